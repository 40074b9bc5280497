"""Issue 11 and 12 on Redis: results ride the ack, waits are woken by PUBLISH,
several queues in priority order, the live workers' registry.

Each test runs against fakeredis and a real server; what needs a server of its
own (the registry is one per database, shared with other tests) uses a private
one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis.cluster import key_slot
from redis_servers import RedisServer

from alligator.backend import Ack, Finished
from alligator.constants import FAILED, SUCCESS
from alligator_redis import RedisBackend, _announced, scripts

fakeredis = pytest.importorskip("fakeredis")

LEASE = 30.0
#: A generous bound for a wake-up on a busy 2-core machine; waits run to 30 s.
PROMPT = 10.0


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    if request.param == "fakeredis":
        client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        backend = RedisBackend.from_client(client, "redis://fakeredis")
    else:
        backend = RedisBackend(request.getfixturevalue("redis_url"))
    yield backend
    backend.close()


@pytest.fixture
def queue(backend: RedisBackend) -> Iterator[str]:
    name = f"results-{uuid.uuid4().hex[:12]}"
    yield name
    backend.drop_all(name)


class Clock:
    """A fake clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _held(backend: RedisBackend, queue: str, *ids: str) -> dict[str, str]:
    for task_id in ids:
        assert backend.push(queue, task_id, f"payload of {task_id}")
    return {r.task_id: r.receipt for r in backend.reserve(queue, LEASE, len(ids))}


def _counting(backend: RedisBackend) -> list[tuple[Any, ...]]:
    """Records every command the backend sends through its client."""
    sent: list[tuple[Any, ...]] = []
    execute = backend._execute

    def counted(*args: Any, **options: Any) -> Any:
        sent.append(args)
        return execute(*args, **options)

    backend._execute = counted
    return sent


# -- results ride the ack ---------------------------------------------------------


def test_ack_results_is_one_round_trip_for_the_batch(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, *(f"t{n}" for n in range(21)))
    acks = [Ack(task_id, receipt, f'{{"n": "{task_id}"}}', 60.0) for task_id, receipt in held.items()]
    assert backend.ack_results(queue, acks[:1]) == 1  # the server caches the script
    backend.finished(queue, "t0")
    sent = _counting(backend)
    assert backend.ack_results(queue, acks[1:]) == 20
    assert [args[0] for args in sent] == ["EVALSHA"]
    sent.clear()
    got = backend.finished(queue, "t7")
    assert got is not None and (got.status, got.result, got.reason) == (SUCCESS, '{"n": "t7"}', None)
    assert got.finished_at is not None and abs(got.finished_at - backend.now()) < 60
    assert len(sent) == 1


def test_a_stale_receipt_keeps_no_result(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, "t1")
    assert backend.ack_results(queue, [Ack("t1", held["t1"] + "0", "1", 60.0)]) == 0
    assert backend.finished(queue, "t1") is None
    assert not backend.client.exists(scripts.queue_keys(queue)["results"])
    assert backend.ack_results(queue, [Ack("t1", held["t1"], None)]) == 1
    got = backend.finished(queue, "t1")
    assert got is not None and (got.status, got.result) == (SUCCESS, None)


def test_results_expire_on_the_backend_clock_and_are_trimmed_by_a_later_ack(
    backend: RedisBackend, queue: str
) -> None:
    clock = Clock()
    backend.clock = clock
    backend.status_ttl = 5.0
    held = _held(backend, queue, "old")
    assert backend.ack_results(queue, [Ack("old", held["old"], '"kept"', 100.0)]) == 1
    keys = scripts.queue_keys(queue)
    # The native expiry is only a safety net: at least a day past the TTL.
    assert backend.client.pttl(keys["results"]) > (100 + scripts.RESULT_GRACE - 60) * 1000
    assert backend.client.pttl(keys["result_expiry"]) > (100 + scripts.RESULT_GRACE - 60) * 1000
    clock.now += 50  # past status_ttl, within the result's TTL: the result decides
    got = backend.finished(queue, "old")
    assert got is not None and (got.status, got.result) == (SUCCESS, '"kept"')
    clock.now += 50  # at its end: gone
    assert backend.finished(queue, "old") is None
    assert backend.client.hexists(keys["results"], "v:old")  # not trimmed yet: lazily
    held = _held(backend, queue, "new")
    assert backend.ack_results(queue, [Ack("new", held["new"], '"fresh"', 100.0)]) == 1
    assert not backend.client.hexists(keys["results"], "v:old")
    assert backend.client.zscore(keys["result_expiry"], "old") is None


def test_a_new_run_replaces_or_drops_the_old_result(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, "t1")
    backend.ack_results(queue, [Ack("t1", held["t1"], '"first"', 60.0)])
    held = _held(backend, queue, "t1")
    assert backend.finished(queue, "t1") is None  # live again
    backend.ack_results(queue, [Ack("t1", held["t1"], None)])
    got = backend.finished(queue, "t1")
    assert got is not None and got.result is None
    held = _held(backend, queue, "t1")
    backend.dead_letter(queue, "t1", held["t1"], "broke")
    got = backend.finished(queue, "t1")
    assert got is not None and (got.status, got.result, got.reason) == (FAILED, None, "broke")
    assert not backend.client.exists(scripts.queue_keys(queue)["results"])


def test_a_stored_result_the_caller_may_not_have_is_never_sent(backend: RedisBackend, queue: str) -> None:
    backend.max_payload_bytes = 100
    held = _held(backend, queue, "big", "bad", "odd")
    acks = [Ack(task_id, receipt, '"x"', 60.0) for task_id, receipt in held.items()]
    assert backend.ack_results(queue, acks) == 3
    keys = scripts.queue_keys(queue)
    backend.client.hset(keys["results"], "v:big", "x" * 101)
    backend.client.hset(keys["results"], "v:bad", b"\xff\xfe")
    backend.client.hset(keys["results"], "t:odd", "not a time")
    backend.finished(queue, "big")  # the server caches the script
    sent = _counting(backend)
    big = backend.finished(queue, "big")
    assert big is not None and (big.status, big.result) == (SUCCESS, None)
    assert big.reason == "result is 101 bytes, over the limit of 100"
    bad = backend.finished(queue, "bad")
    assert bad is not None and (bad.result, bad.reason) == (None, "result is not valid UTF-8")
    odd = backend.finished(queue, "odd")
    assert odd is not None and odd.result == '"x"' and odd.finished_at == 0
    assert len(sent) == 3


def test_a_nan_result_ttl_is_refused_before_anything_changes(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, "t1")
    with pytest.raises(ValueError, match="result_ttl"):
        backend.ack_results(queue, [Ack("t1", held["t1"], "1", float("nan"))])
    assert backend.ack_results(queue, [Ack("t1", held["t1"], "1", 60.0)]) == 1


# -- wait_finished is woken by PUBLISH --------------------------------------------


def _later(delay: float, action: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_finished_is_woken_by_the_ack_not_by_polling(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, "t1", "other")
    looks = 0
    finished = backend.finished

    def counted(q: str, task_id: str) -> Finished | None:
        nonlocal looks
        looks += 1
        return finished(q, task_id)

    backend.finished = counted  # type: ignore[method-assign, assignment]
    # Another task's ack is announced too, but names another id: no look.
    _later(0.2, lambda: backend.ack_results(queue, [Ack("other", held["other"], "2", 60.0)]))
    thread = _later(1.2, lambda: backend.ack_results(queue, [Ack("t1", held["t1"], '"done"', 60.0)]))
    start = time.monotonic()
    got = backend.wait_finished(queue, "t1", 30.0)
    thread.join()
    assert got is not None and (got.status, got.result) == (SUCCESS, '"done"')
    assert time.monotonic() - start < PROMPT
    # One look after subscribing, one when its own ack was announced: polling
    # every 10-250 ms would have looked many more times in over a second.
    assert looks == 2


def test_wait_finished_is_woken_by_a_dead_letter(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, "t1")
    thread = _later(0.3, lambda: backend.dead_letter(queue, "t1", held["t1"], "it broke"))
    got = backend.wait_finished(queue, "t1", 30.0)
    thread.join()
    assert got is not None and (got.status, got.reason) == (FAILED, "it broke")


def test_wait_finished_sees_an_outcome_from_before_and_times_out(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, "t1", "t2")
    backend.ack_results(queue, [Ack("t1", held["t1"], "1", 60.0)])
    got = backend.wait_finished(queue, "t1", 5.0)
    assert got is not None and got.result == "1"
    start = time.monotonic()
    assert backend.wait_finished(queue, "t2", 0.3) is None
    assert time.monotonic() - start >= 0.3


def test_a_message_published_by_hand_never_breaks_a_wait(backend: RedisBackend, queue: str) -> None:
    held = _held(backend, queue, "t1")
    channel = scripts.queue_keys(queue)["done"]

    def hostile_then_ack() -> None:
        backend.client.publish(channel, b"\xff\xfe not UTF-8")
        backend.client.publish(channel, "99999:nothing")
        backend.client.publish(channel, "garbage")
        backend.ack_results(queue, [Ack("t1", held["t1"], "1", 60.0)])

    thread = _later(0.3, hostile_then_ack)
    got = backend.wait_finished(queue, "t1", 30.0)
    thread.join()
    assert got is not None and got.result == "1"


@pytest.mark.redis
def test_bytes_published_by_hand_never_make_a_waiter_miss_the_ack(redis_url: str) -> None:
    """After a decode error redis-py's reader replays and drops what follows
    (seen as a wait that timed out about once in five runs of the test above):
    the waiter must look again on a fresh subscription. A race, so many rounds,
    the hostile bytes landing at a different instant in each."""
    backend = RedisBackend(redis_url)
    try:
        missed = []
        for round_ in range(25):
            queue = f"hostile-{uuid.uuid4().hex[:12]}"
            held = _held(backend, queue, "t1")
            channel = scripts.queue_keys(queue)["done"]

            def hostile_then_ack(
                queue: str = queue, channel: str = channel, receipt: str = held["t1"]
            ) -> None:
                backend.client.publish(channel, b"\xff\xfe not UTF-8")
                backend.client.publish(channel, "99999:nothing")
                backend.client.publish(channel, "garbage")
                backend.ack_results(queue, [Ack("t1", receipt, "1", 60.0)])

            thread = _later(0.01 * round_, hostile_then_ack)
            got = backend.wait_finished(queue, "t1", 5.0)
            thread.join()
            backend.drop_all(queue)
            if got is None or got.result != "1":
                missed.append(round_)
        assert not missed, f"the waiter missed the ack in rounds {missed}"
    finally:
        backend.close()


def test_announced_ids_parse_and_hostile_text_ends_the_list() -> None:
    assert _announced("2:t13:a:b") == {b"t1", b"a:b"}
    assert _announced("2:t1x") == {b"t1"}
    assert _announced("5:ab") == set()
    assert _announced(None) == set()
    assert _announced(b"1:\xff") == {b"\xff"}
    assert _announced("2:\u00e9") == {"\u00e9".encode()}


# -- several queues, in priority order ----------------------------------------------


@pytest.fixture
def queues(backend: RedisBackend) -> Iterator[list[str]]:
    names = [f"prio-{n}-{uuid.uuid4().hex[:8]}" for n in ("high", "default", "low")]
    yield names
    for name in names:
        backend.drop_all(name)


def test_a_task_pushed_to_high_goes_before_a_backlog_in_low(backend: RedisBackend, queues: list[str]) -> None:
    high, default, low = queues
    backend.push_many(low, [(f"l{n}", "x", 0.0) for n in range(50)])
    assert backend.reserve_first(queues, LEASE, 5)[0] == low
    backend.push(high, "urgent", "x")
    queue, got = backend.reserve_first(queues, LEASE, 5)
    assert (queue, [r.task_id for r in got]) == (high, ["urgent"])
    assert backend.reserve_first(queues, LEASE, 5)[0] == low
    assert backend.reserve_first([high, default], LEASE, 5, 0.0) == ("", [])


def test_a_waiter_on_several_queues_is_woken_by_a_push_to_any(
    backend: RedisBackend, queues: list[str]
) -> None:
    _, default, low = queues
    thread = _later(0.5, lambda: backend.push(low, "late", "x"))
    start = time.monotonic()
    queue, got = backend.reserve_first(queues, LEASE, 5, 30.0)
    thread.join()
    assert (queue, [r.task_id for r in got]) == (low, ["late"])
    assert time.monotonic() - start < PROMPT
    thread = _later(0.5, lambda: backend.push(default, "later", "x"))
    assert backend.wait_for_work(queues, 30.0) is True
    thread.join()
    assert backend.reserve_first(queues, LEASE, 5)[0] == default


def test_a_waiter_on_several_queues_times_out_and_sees_delays(
    backend: RedisBackend, queues: list[str]
) -> None:
    start = time.monotonic()
    assert backend.reserve_first(queues, LEASE, 5, 0.3) == ("", [])
    assert backend.wait_for_work(queues, 0.3) is False
    assert time.monotonic() - start >= 0.6
    backend.push(queues[2], "soon", "x", delay=0.5)
    queue, got = backend.reserve_first(queues, LEASE, 5, 30.0)
    assert (queue, [r.task_id for r in got]) == (queues[2], ["soon"])
    assert time.monotonic() - start < 0.6 + PROMPT


# -- the live workers' registry ---------------------------------------------------


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def registry_backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[RedisBackend]:
    if request.param == "fakeredis":
        client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        backend = RedisBackend.from_client(client, "redis://fakeredis")
        yield backend
        backend.close()
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        backend = RedisBackend(server.url(0))
        yield backend
        backend.close()
    finally:
        server.stop()


def test_workers_expire_on_the_backend_clock(registry_backend: RedisBackend) -> None:
    backend = registry_backend
    clock = Clock()
    backend.clock = clock
    backend.heartbeat("w1", '{"n": 1}', 30.0)
    clock.now += 10
    backend.heartbeat("w2", '{"n": 2}', 30.0)
    assert backend.worker_records() == [("w1", '{"n": 1}'), ("w2", '{"n": 2}')]
    clock.now += 10
    backend.heartbeat("w1", '{"n": 3}', 30.0)  # refreshed: now the newest
    assert backend.worker_records() == [("w2", '{"n": 2}'), ("w1", '{"n": 3}')]
    clock.now += 30  # w2's heartbeat was 40 s ago, w1's 30: both gone
    assert backend.worker_records() == []
    keys = scripts.WORKER_KEYS
    assert not backend.client.exists(keys["records"], keys["beats"])
    backend.heartbeat("w3", "{}", 30.0)
    assert 0 < backend.client.pttl(keys["records"]) <= (30 + scripts.RESULT_GRACE) * 1000
    assert backend.forget_worker("w3") is True
    assert backend.forget_worker("w3") is False
    assert backend.worker_records() == []


def test_the_registry_is_bounded_by_max_workers(registry_backend: RedisBackend) -> None:
    backend = registry_backend
    clock = Clock()
    backend.clock = clock
    backend.max_workers = 3
    for n in range(5):
        clock.now += 1
        backend.heartbeat(f"w{n}", str(n), 30.0)
    assert [worker for worker, _ in backend.worker_records()] == ["w2", "w3", "w4"]
    assert backend.client.zcard(scripts.WORKER_KEYS["beats"]) == 3


def test_hostile_worker_records_are_skipped(registry_backend: RedisBackend) -> None:
    backend = registry_backend
    backend.max_payload_bytes = 100
    backend.heartbeat("good", "{}", 30.0)
    backend.heartbeat("big", "{}", 30.0)
    backend.heartbeat("bad", "{}", 30.0)
    backend.heartbeat("odd", "{}", 30.0)
    records = scripts.WORKER_KEYS["records"]
    backend.client.hset(records, "r:big", "x" * 101)
    backend.client.hset(records, "r:bad", b"\xff")
    backend.client.hset(records, "e:odd", "never")
    backend.client.zadd(scripts.WORKER_KEYS["beats"], {b"\xfe": 1})
    assert backend.worker_records() == [("good", "{}")]
    with pytest.raises(ValueError):
        backend.heartbeat("w", "{}", float("inf"))


def test_the_registry_keys_share_a_slot_no_queue_has() -> None:
    slots = {key_slot(key.encode()) for key in scripts.WORKER_KEYS.values()}
    assert len(slots) == 1
    for name in ("workers", "%workers", "{workers}", ""):
        assert not set(scripts.queue_keys(name).values()) & set(scripts.WORKER_KEYS.values())


def test_a_wake_up_taken_for_one_queue_is_passed_on_when_another_is_served(
    backend: RedisBackend, queues: list[str]
) -> None:
    """Woken by a push to ``low``, the waiter finds ``high`` has work by then and
    takes that: ``low``'s wake-up token goes back, for a worker waiting on
    ``low`` alone (it would sleep until its timeout otherwise)."""
    high, _, low = queues
    execute = backend._execute

    def racing(*args: Any, **options: Any) -> Any:
        if args[0] == "BLPOP":
            backend.push(low, "l1", "x")  # its wake-up token is what BLPOP takes
            popped = execute(*args, **options)
            backend.push(high, "h1", "x")  # and by the next look, high has work
            return popped
        return execute(*args, **options)

    backend._execute = racing
    queue, got = backend.reserve_first([high, low], LEASE, 1, 30.0)
    backend._execute = execute
    assert (queue, [r.task_id for r in got]) == (high, ["h1"])
    wake = scripts.queue_keys(low)["wake"]
    assert backend.client.llen(wake) == 1
    assert [r.task_id for r in backend.reserve(low, LEASE, 1, 5.0)] == ["l1"]


def test_an_enormous_ttl_is_kept_and_its_safety_net_capped(backend: RedisBackend, queue: str) -> None:
    """PEXPIRE refuses a time Redis cannot hold; the script must not stop after its writes."""
    held = _held(backend, queue, "t1")
    assert backend.ack_results(queue, [Ack("t1", held["t1"], '"long"', 1e300)]) == 1
    got = backend.finished(queue, "t1")
    assert got is not None and got.result == '"long"'
    assert 0 < backend.client.pttl(scripts.queue_keys(queue)["results"]) <= scripts.NET_CAP_MS
    backend.heartbeat(f"w-{queue}", "{}", 1e300)
    assert backend.forget_worker(f"w-{queue}")
