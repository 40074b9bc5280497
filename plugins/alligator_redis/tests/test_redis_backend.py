"""What the kit cannot see: DSNs, key layout, scripts, blocking, unreachable servers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import key_slot

from alligator import Gator
from alligator.constants import FAILED, SUCCESS
from alligator.exceptions import BackendError
from alligator.registry import backend_class_for
from alligator_redis import PUSH_CHUNK, RedisBackend, scripts

fakeredis = pytest.importorskip("fakeredis")

LEASE = 30.0


@pytest.fixture
def queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def real(redis_url: str, queue: str) -> Iterator[RedisBackend]:
    backend = RedisBackend(redis_url)
    yield backend
    backend.drop_all(queue)
    backend.close()


@pytest.fixture
def fake() -> Iterator[RedisBackend]:
    backend = RedisBackend.from_client(fakeredis.FakeRedis(decode_responses=True))
    yield backend
    backend.close()


# -- DSNs and entry points -------------------------------------------------------


@pytest.mark.parametrize("scheme", ["redis", "rediss", "unix"])
def test_every_scheme_is_registered(scheme: str) -> None:
    assert backend_class_for(f"{scheme}://localhost") is RedisBackend


def test_dsn_parts_reach_the_client() -> None:
    backend = RedisBackend("redis://alice:s3cret@db.example:6380/4?socket_timeout=7")
    options = backend.client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert (options["host"], options["port"], options["db"]) == ("db.example", 6380, 4)
    assert (options["username"], options["password"]) == ("alice", "s3cret")
    assert options["socket_timeout"] == 7.0
    assert options["decode_responses"] is True
    # A blocking wait must end before the socket gives up on it.
    assert backend._max_block < 7.0


def test_tls_and_unix_socket_dsns() -> None:
    tls = RedisBackend("rediss://localhost:6390/1")
    assert tls.client.connection_pool.connection_class is redis.SSLConnection  # type: ignore[union-attr]
    sock = RedisBackend("unix:///tmp/redis.sock?db=2")
    options = sock.client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert (options["path"], options["db"]) == ("/tmp/redis.sock", 2)
    assert sock.client.connection_pool.connection_class is redis.UnixDomainSocketConnection  # type: ignore[union-attr]


def test_messages_hide_the_password() -> None:
    backend = RedisBackend("redis://:hunter2@127.0.0.1:1/0?socket_connect_timeout=0.5")
    with pytest.raises(BackendError) as caught:
        backend.push("q", "t1", "x")
    assert "hunter2" not in str(caught.value)
    assert "cannot reach Redis" in str(caught.value)
    assert "not queued" in str(caught.value)
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_a_client_must_decode_responses() -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        RedisBackend.from_client(fakeredis.FakeRedis())


# -- unreachable server ------------------------------------------------------------


def test_every_method_raises_backend_error_when_redis_is_down() -> None:
    port_with_no_server = 1
    backend = RedisBackend(f"redis://127.0.0.1:{port_with_no_server}/0?socket_connect_timeout=0.5")
    calls = [
        lambda: backend.now(),
        lambda: backend.push("q", "t", "x"),
        lambda: backend.push_many("q", [("t", "x", 0.0)]),
        lambda: backend.reserve("q", LEASE, 1, timeout=0.1),
        lambda: backend.ack("q", "t", "r"),
        lambda: backend.ack_many("q", [("t", "r")]),
        lambda: backend.release("q", "t", "r"),
        lambda: backend.extend("q", "t", "r", LEASE),
        lambda: backend.extend_many("q", [("t", "r")], LEASE),
        lambda: backend.dead_letter("q", "t", "r", "why"),
        lambda: backend.get("q", "t", LEASE),
        lambda: backend.cancel("q", "t"),
        lambda: backend.status("q", "t"),
        lambda: backend.len("q"),
        lambda: backend.dead_letters("q"),
        lambda: backend.requeue("q", "t"),
        lambda: backend.drop_all("q"),
    ]
    for call in calls:
        with pytest.raises(BackendError, match="cannot reach Redis"):
            call()


def test_gator_task_raises_when_redis_is_down() -> None:
    gator = Gator("redis://127.0.0.1:1/0?socket_connect_timeout=0.5")
    with pytest.raises(BackendError):
        gator.task(abs, -1)


# -- key layout and scripts ---------------------------------------------------------


@pytest.mark.redis
def test_every_key_of_a_queue_is_in_one_slot(real: RedisBackend, queue: str) -> None:
    real.push(queue, "t1", "x")
    real.push(queue, "t2", "x", delay=60)
    [held] = real.reserve(queue, LEASE)
    real.dead_letter(queue, held.task_id, held.receipt, "dead")
    real.push(queue, "t3", "x")
    [done] = real.reserve(queue, LEASE)
    real.ack(queue, done.task_id, done.receipt)
    keys = list(real.client.scan_iter(match=f"alligator:{{{queue}}}:*"))
    assert len(keys) >= 6
    assert {key_slot(key.encode()) for key in keys} == {key_slot(queue.encode())}
    real.drop_all(queue)
    assert list(real.client.scan_iter(match=f"alligator:{{{queue}}}:*")) == []


def test_queue_names_with_braces_keep_one_slot(fake: RedisBackend) -> None:
    for name in ["}x", "{a}b", "we{ir}d}"]:
        fake.push(name, "t1", "x")
        keys = [k for k in fake.client.keys("alligator:*") if "pending" in k or "payloads" in k]
        assert len({key_slot(str(k).encode()) for k in keys}) == 1
        assert fake.reserve(name, LEASE)[0].task_id == "t1"
        fake.drop_all(name)
        fake.client.flushdb()


def test_push_many_over_several_chunks_keeps_order(fake: RedisBackend, queue: str) -> None:
    total = PUSH_CHUNK * 2 + 7
    items = [(f"t{n}", f"p{n}", 0.0) for n in range(total)]
    assert fake.push_many(queue, [*items, ("t0", "dup", 0.0)]) == total
    assert fake.push_many(queue, items[:5]) == 0
    got = fake.reserve(queue, LEASE, total)
    assert [r.task_id for r in got] == [f"t{n}" for n in range(total)]


def test_push_many_with_duplicates_inside_the_batch(fake: RedisBackend, queue: str) -> None:
    assert fake.push_many(queue, [("a", "1", 0.0), ("a", "2", 0.0), ("b", "3", 5.0)]) == 2
    [got] = fake.reserve(queue, LEASE, 5)
    assert (got.task_id, got.payload) == ("a", "1")


@pytest.mark.redis
def test_scripts_are_loaded_again_after_a_flush(real: RedisBackend, queue: str) -> None:
    real.push(queue, "t1", "x")
    real.client.script_flush()
    assert real.push(queue, "t2", "x") is True
    real.client.script_flush()
    assert real.push_many(queue, [(f"m{n}", "x", 0.0) for n in range(PUSH_CHUNK + 1)]) == PUSH_CHUNK + 1
    real.client.script_flush()
    assert [r.task_id for r in real.reserve(queue, LEASE, 2)] == ["t1", "t2"]


@pytest.mark.redis
def test_now_is_the_servers_time(real: RedisBackend) -> None:
    seconds, micros = real.client.time()
    assert abs(real.now() - (seconds + micros / 1e6)) < 1.0


@pytest.mark.redis
def test_status_is_trimmed_inside_ack(real: RedisBackend, queue: str) -> None:
    real.status_ttl = 0.2
    real.push(queue, "old", "x")
    [old] = real.reserve(queue, LEASE)
    real.ack(queue, "old", old.receipt)
    time.sleep(0.3)
    real.push(queue, "new", "x")
    [new] = real.reserve(queue, LEASE)
    real.ack(queue, "new", new.receipt)
    assert real.client.zrange(f"alligator:{{{queue}}}:succeeded", 0, -1) == ["new"]


# -- blocking reserve --------------------------------------------------------------


@pytest.mark.redis
def test_an_idle_reserve_wakes_within_milliseconds(real: RedisBackend, queue: str) -> None:
    delays = []
    for n in range(5):
        got: list[float] = []

        def consume(got: list[float] = got) -> None:
            [r] = real.reserve(queue, LEASE, 1, timeout=5.0)
            got.append(time.perf_counter())
            real.ack(queue, r.task_id, r.receipt)

        thread = threading.Thread(target=consume)
        thread.start()
        time.sleep(0.1)
        sent = time.perf_counter()
        real.push(queue, f"t{n}", "x")
        thread.join(5)
        delays.append(got[0] - sent)
    assert sorted(delays)[2] < 0.05, delays


@pytest.mark.redis
def test_blocking_reserve_wakes_for_a_delayed_task(real: RedisBackend, queue: str) -> None:
    real.push(queue, "later", "x", delay=0.3)
    started = time.monotonic()
    [got] = real.reserve(queue, LEASE, 1, timeout=5.0)
    assert got.task_id == "later"
    assert 0.2 < time.monotonic() - started < 1.5


@pytest.mark.redis
def test_blocking_reserve_wakes_for_an_expired_lease(real: RedisBackend, queue: str) -> None:
    real.push(queue, "t1", "x")
    real.reserve(queue, 0.3)
    started = time.monotonic()
    [again] = real.reserve(queue, LEASE, 1, timeout=5.0)
    assert (again.task_id, again.attempts) == ("t1", 2)
    assert time.monotonic() - started < 1.5


@pytest.mark.redis
def test_many_blocked_workers_lose_no_wake_up(redis_url: str, queue: str) -> None:
    """Eight threads wait (up to 5 s each); tasks trickle in one by one and in
    batches; every task is taken promptly, none twice. A lost wake-up would
    leave a task waiting for a timeout; stale wake-ups are harmless."""
    backend = RedisBackend(redis_url)
    taken: dict[str, float] = {}
    sent: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            for r in backend.reserve(queue, LEASE, 2, timeout=5.0):
                with lock:
                    assert r.task_id not in taken
                    taken[r.task_id] = time.perf_counter()
                backend.ack(queue, r.task_id, r.receipt)
                time.sleep(0.002)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for n in range(60):
            if n % 10 == 0:
                batch = [(f"b{n}-{k}", "x", 0.0) for k in range(20)]
                now = time.perf_counter()
                sent.update({task_id: now for task_id, _, _ in batch})
                backend.push_many(queue, batch)
            sent[f"t{n}"] = time.perf_counter()
            backend.push(queue, f"t{n}", "x")
            time.sleep(0.01)
        deadline = time.monotonic() + 10
        while len(taken) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        # Wake every waiting thread so it sees the stop.
        backend.push_many(queue, [(f"stop-{k}", "x", 0.0) for k in range(2 * len(threads))])
        for thread in threads:
            thread.join(10)
        backend.drop_all(queue)
        backend.close()
    assert set(sent) <= set(taken)
    waits = sorted(taken[t] - sent[t] for t in sent)
    assert waits[-1] < 1.0, waits[-5:]


@pytest.mark.redis
def test_a_woken_worker_passes_the_baton(redis_url: str, queue: str) -> None:
    """Only the first of several quick pushes wakes a worker (the queue was
    empty); the worker it woke wakes the next, so slow tasks start together."""
    backend = RedisBackend(redis_url)
    started: dict[str, float] = {}

    def worker() -> None:
        for r in backend.reserve(queue, LEASE, 1, timeout=5.0):
            started[r.task_id] = time.perf_counter()
            time.sleep(1.0)  # a slow task: this worker is busy for a while
            backend.ack(queue, r.task_id, r.receipt)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    sent = time.perf_counter()
    for n in range(4):
        backend.push(queue, f"t{n}", "x")
    for thread in threads:
        thread.join(10)
    backend.drop_all(queue)
    backend.close()
    assert sorted(started) == ["t0", "t1", "t2", "t3"]
    assert max(started.values()) - sent < 0.5, "a task waited for a busy worker instead of an idle one"


def test_fake_clock_does_not_stall_a_blocking_reserve(fake: RedisBackend, queue: str) -> None:
    clock_now = [1000.0]
    fake.clock = lambda: clock_now[0]
    fake.push(queue, "later", "x", delay=3600)
    threading.Timer(0.2, lambda: clock_now.__setitem__(0, 5000.0)).start()
    started = time.monotonic()
    [got] = fake.reserve(queue, LEASE, 1, timeout=3.0)
    assert got.task_id == "later"
    assert time.monotonic() - started < 1.0


# -- a worker on top -----------------------------------------------------------------


@pytest.mark.redis
def test_a_worker_runs_tasks_end_to_end(redis_url: str, queue: str, tmp_path: Path) -> None:
    import redis_test_tasks

    out = tmp_path / "runs.txt"
    gator = Gator(redis_url, queue_name=queue, allow=["redis_test_tasks"])
    with gator.batch() as batch:
        for n in range(50):
            batch.task(redis_test_tasks.record, str(out), f"t{n}")
    from alligator import Worker

    assert Worker(gator, max_tasks=50, concurrency=4).run_forever() == 50
    lines = out.read_text().split()
    assert sorted(lines[::2]) == sorted(f"t{n}" for n in range(50))
    gator.drop_all()


@pytest.mark.redis
@pytest.mark.parametrize("field", ["attempts", "failures"])
def test_a_worker_runs_every_task_around_a_corrupt_counter(
    redis_url: str, queue: str, tmp_path: Path, field: str
) -> None:
    """Round 2 (C9), as reported: ``HSET alligator:{Q}:attempts <task 2> abc`` made
    every reserve of a worker fail; task 2 was re-leased on every reserve and never
    dead-lettered, and task 3 was left WAITING in no structure, never run."""
    import redis_test_tasks

    from alligator import Worker

    out = tmp_path / "runs.txt"
    gator = Gator(redis_url, queue_name=queue, allow=["redis_test_tasks"])
    try:
        ids = [gator.task(redis_test_tasks.record, str(out), f"t{n}").task_id for n in range(1, 6)]
        backend = gator.backend
        assert isinstance(backend, RedisBackend)
        backend.client.hset(scripts.queue_keys(queue)[field], ids[1], "abc")
        worker = Worker(gator, concurrency=1)
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.exists() and len(out.read_text().split("\n")) > 4:
                break
            time.sleep(0.05)
        worker.stop()
        thread.join(60)
        assert sorted(out.read_text().split()[::2]) == ["t1", "t3", "t4", "t5"]
        [letter] = gator.dead_letters()
        assert (letter.task_id, letter.reason) == (ids[1], f"record is corrupt: {field} is 'abc'")
        assert [gator.status(task_id) for task_id in ids] == [SUCCESS, FAILED, SUCCESS, SUCCESS, SUCCESS]
    finally:
        gator.drop_all()
