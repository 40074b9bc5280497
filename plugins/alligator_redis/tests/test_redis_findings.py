"""Issue 8 and 9 findings about the Redis backend, each against fakeredis and a real server.

Records are planted straight into Redis (as anyone with write access can);
every failure must end as a dead letter of that record alone, and no script
may leave a half-written state behind.
"""

from __future__ import annotations

import doctest
import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.cluster import key_slot
from redis_raw import plant, snapshot

import alligator_redis
from alligator import Gator
from alligator.constants import FAILED, SUCCESS, WAITING
from alligator.exceptions import BackendError, InvalidDSNError
from alligator_redis import RedisBackend, scripts

fakeredis = pytest.importorskip("fakeredis")

LEASE = 30.0
NOT_UTF8 = b'{"bad": "\xff\xfe"}'


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
    name = f"finding-{uuid.uuid4().hex[:12]}"
    yield name
    backend.drop_all(name)


def _size(reply: Any) -> int:
    if isinstance(reply, (bytes, str)):
        return len(reply)
    if isinstance(reply, list):
        return sum(_size(item) for item in reply)
    return 0


def _receipts(backend: RedisBackend, queue: str, limit: int = 100) -> dict[str, Any]:
    return {r.task_id: r for r in backend.reserve(queue, LEASE, limit)}


# -- finding 1 and C1: what cannot be read is dead-lettered, alone ------------------


def test_a_non_utf8_payload_is_dead_lettered_alone(backend: RedisBackend, queue: str) -> None:
    """Finding 1: one raw HSET of bytes that are not UTF-8 made the whole reserve
    fail after its leases were taken; the 31 valid tasks of the batch got stuck."""
    for n in range(16):
        backend.push(queue, f"ok{n}", f"payload {n}")
    plant(backend, queue, "bad", NOT_UTF8)
    for n in range(16, 31):
        backend.push(queue, f"ok{n}", f"payload {n}")
    got = backend.reserve(queue, LEASE, 32)
    assert [r.task_id for r in got] == [f"ok{n}" for n in range(31)]
    assert [r.payload for r in got] == [f"payload {n}" for n in range(31)]
    [letter] = backend.dead_letters(queue)
    assert (letter.task_id, letter.reason, letter.attempts) == ("bad", "payload is not valid UTF-8", 1)
    assert letter.payload == NOT_UTF8.decode("utf-8", "replace")
    assert backend.status(queue, "bad") == FAILED
    assert backend.peek(queue, "bad") is None
    assert backend.ack_many(queue, [(r.task_id, r.receipt) for r in got]) == 31


def test_an_oversized_payload_is_dead_lettered_without_being_sent(backend: RedisBackend, queue: str) -> None:
    """Finding 11: the size was checked only once the payload was in the worker's memory."""
    backend.max_payload_bytes = 1000
    big = b"x" * 2_000_000
    backend.push(queue, "small", "s")
    plant(backend, queue, "big", big)
    backend.push(queue, "edge", "e" * 1000)
    replies: list[Any] = []
    execute = backend._execute

    def recording(*args: Any, **options: Any) -> Any:
        reply = execute(*args, **options)
        replies.append(reply)
        return reply

    backend._execute = recording
    got = backend.reserve(queue, LEASE, 10)
    assert [r.task_id for r in got] == ["small", "edge"]
    [letter] = backend.dead_letters(queue)
    assert letter.reason == "payload is 2000000 bytes, over the limit of 1000"
    assert (letter.task_id, letter.attempts, letter.payload) == ("big", 1, "x" * 1000)
    assert backend.peek(queue, "big") is None
    received = sum(_size(reply) for reply in replies)
    assert received < 10_000, "the oversized payload crossed the wire"
    assert backend.status(queue, "big") == FAILED


def test_get_dead_letters_an_unreadable_record_and_returns_none(backend: RedisBackend, queue: str) -> None:
    backend.max_payload_bytes = 10
    plant(backend, queue, "bad", b"\xc3")
    plant(backend, queue, "big", b"y" * 11)
    assert backend.get(queue, "bad", LEASE) is None
    assert backend.get(queue, "big", LEASE) is None
    reasons = {d.task_id: d.reason for d in backend.dead_letters(queue)}
    assert reasons == {
        "bad": "payload is not valid UTF-8",
        "big": "payload is 11 bytes, over the limit of 10",
    }
    assert backend.len(queue) == 0


def test_a_task_id_that_is_not_utf8_is_dead_lettered_alone(backend: RedisBackend, queue: str) -> None:
    keys = scripts.queue_keys(queue)
    backend.push(queue, "before", "x")
    member = b"%016d:bad\xff" % int(backend.client.incr(keys["seq"]))
    backend.client.hset(keys["payloads"], b"bad\xff", b"x")
    backend.client.zadd(keys["pending"], {member: backend.now()})
    backend.push(queue, "after", "x")
    assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["before", "after"]
    [letter] = backend.dead_letters(queue)
    assert (letter.task_id, letter.reason) == ("bad\ufffd", "task id is not valid UTF-8")


def test_a_record_the_client_cannot_decode_is_dead_lettered_alone(backend: RedisBackend, queue: str) -> None:
    """Should a record get past the script's check, the client dead-letters it, alone."""
    for n in range(3):
        backend.push(queue, f"t{n}", "fine")
    run = backend._run

    def corrupting(script: Any, *args: Any, **options: Any) -> Any:
        reply = run(script, *args, **options)
        if script is backend._reserve:
            reply[6] = b"\xff"  # the second record's payload
        return reply

    backend._run = corrupting  # type: ignore[method-assign]
    got = backend.reserve(queue, LEASE, 10)
    backend._run = run  # type: ignore[method-assign]
    assert [r.task_id for r in got] == ["t0", "t2"]
    [letter] = backend.dead_letters(queue)
    assert letter.task_id == "t1"
    assert letter.reason.startswith("payload is not valid UTF-8: ")
    assert backend.status(queue, "t1") == FAILED


def test_the_scripts_utf8_check_agrees_with_python(backend: RedisBackend, queue: str) -> None:
    """The Lua check and Python's strict decoder accept exactly the same bytes."""
    samples = [b"", b"plain", "ünïcødé 🐊 \x00".encode(), b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]
    samples += [b"\xe2\x82", b"\x80", b"\xf0\x9f\x90\x8a", b"\xef\xbf\xbf", b"a\xc3\xa9\xa9", b"\xc3\xc3\xa9"]
    # Long texts: a stray byte far in, at the end, a character cut short.
    samples += [b"a" * 4000 + b"\xff", b"a" * 3999 + b"\x80", b"a" * 3999 + "é".encode(), b"a" * 8001]
    samples += [b"a" * 3999 + b"\xc3", b"a" * 12000 + "🐊".encode()[:3], b"a" * 4000, b"a" * 7999 + b"\xff"]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=12) | st.text(max_size=6).map(lambda t: t.encode("utf-8", "surrogatepass")))
    def check(data: bytes) -> None:
        check_one(data)

    # The Lua function itself, called on the bytes: peek's answer alone would
    # not tell, since the client decodes what the script hands out again.
    sha = backend.client.script_load(
        scripts._expand("utf8.lua", {"utf8.lua"}) + "\nreturn utf8(ARGV[1]) and 1 or 0"
    )

    def check_one(data: bytes) -> None:
        plant(backend, queue, "t", data)
        try:
            expected: str | None = data.decode()
        except UnicodeDecodeError:
            expected = None
        assert backend.client.evalsha(sha, 0, data) == (expected is not None), data
        assert backend.peek(queue, "t") == expected, data
        backend.drop_all(queue)

    for sample in samples:
        check_one(sample)
    check()


def test_peek_reads_without_changing_anything(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "waiting", "w\x00")
    backend.push(queue, "delayed", "d", delay=60)
    backend.push(queue, "held", "h")
    backend.push(queue, "done", "x")
    got = _receipts(backend, queue)
    backend.ack(queue, "done", got["done"].receipt)
    backend.push(queue, "dead", "x")
    backend.dead_letter(queue, "dead", _receipts(backend, queue)["dead"].receipt, "why")
    before = snapshot(backend, queue)
    assert [backend.peek(queue, t) for t in ["waiting", "delayed", "held"]] == ["w\x00", "d", "h"]
    assert [backend.peek(queue, t) for t in ["done", "dead", "unknown"]] == [None, None, None]
    assert snapshot(backend, queue) == before


# -- C3 to C6 -----------------------------------------------------------------------------


def test_nul_in_payloads_and_reasons_round_trips(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "t\x00id", "pay\x00load")
    [got] = backend.reserve(queue, LEASE)
    assert (got.task_id, got.payload) == ("t\x00id", "pay\x00load")
    backend.dead_letter(queue, got.task_id, got.receipt, "why\x00not")
    [letter] = backend.dead_letters(queue)
    assert (letter.payload, letter.reason) == ("pay\x00load", "why\x00not")


def test_a_payload_with_a_lone_surrogate_is_refused(backend: RedisBackend, queue: str) -> None:
    before = snapshot(backend, queue)
    with pytest.raises(ValueError):
        backend.push(queue, "t1", "bad \udc80")
    assert snapshot(backend, queue) == before
    assert backend.push(queue, "t1", "good") is True


def test_a_dead_letters_id_cannot_be_pushed_again(backend: RedisBackend, queue: str) -> None:
    """C4: ids are unique across live tasks and dead letters; an acked id may come back."""
    backend.push(queue, "t1", "first")
    backend.dead_letter(queue, "t1", _receipts(backend, queue)["t1"].receipt, "why")
    before = snapshot(backend, queue)
    assert backend.push(queue, "t1", "second") is False
    assert backend.push_many(queue, [("t1", "third", 0.0)]) == 0
    assert snapshot(backend, queue) == before
    backend.push(queue, "t2", "x")
    backend.ack(queue, "t2", _receipts(backend, queue)["t2"].receipt)
    assert backend.push(queue, "t2", "again") is True
    assert backend.status(queue, "t2") == WAITING


def test_requeue_never_overwrites_a_live_task(backend: RedisBackend, queue: str) -> None:
    """Finding 6: requeueing a dead letter whose id was queued again overwrote the live task."""
    backend.push(queue, "t1", "dead one")
    backend.dead_letter(queue, "t1", _receipts(backend, queue)["t1"].receipt, "why")
    # Only a record written by hand can make the id live again.
    plant(backend, queue, "t1", b"live one")
    before = snapshot(backend, queue)
    assert backend.requeue(queue, "t1") is False
    assert snapshot(backend, queue) == before
    assert backend.peek(queue, "t1") == "live one"
    assert [(d.task_id, d.payload) for d in backend.dead_letters(queue)] == [("t1", "dead one")]
    [live] = backend.reserve(queue, LEASE)
    assert (live.task_id, live.payload) == ("t1", "live one")


def test_requeue_resets_attempts_and_failures_keeps_payload(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "t1", "x\x00y")
    first = _receipts(backend, queue)["t1"]
    backend.release(queue, "t1", first.receipt, attempted=True)
    second = _receipts(backend, queue)["t1"]
    assert (second.attempts, second.failures) == (2, 1)
    backend.dead_letter(queue, "t1", second.receipt, "gave up")
    assert backend.requeue(queue, "t1") is True
    assert backend.requeue(queue, "t1") is False
    third = _receipts(backend, queue)["t1"]
    assert (third.payload, third.attempts, third.failures) == ("x\x00y", 1, 0)


def test_failures_count_attempted_releases_only(backend: RedisBackend, queue: str) -> None:
    """C6: release(attempted=True) counts a failure; attempted=False takes the delivery back."""
    backend.push(queue, "t1", "x")
    seen = []
    for attempted in [True, False, True, True, False]:
        got = _receipts(backend, queue)["t1"]
        seen.append((got.attempts, got.failures))
        backend.release(queue, "t1", got.receipt, attempted=attempted)
    got = backend.get(queue, "t1", LEASE)
    assert got is not None
    seen.append((got.attempts, got.failures))
    assert seen == [(1, 0), (2, 1), (2, 1), (3, 2), (4, 3), (4, 3)]
    backend.ack(queue, "t1", got.receipt)
    backend.push(queue, "t1", "again")
    assert (_receipts(backend, queue)["t1"].failures) == 0


# -- finding 5: no script leaves half its writes --------------------------------------


def _populated(backend: RedisBackend, queue: str) -> dict[str, Any]:
    """A queue with a waiting, a delayed, a reserved, an acked and a dead task."""
    backend.push(queue, "dead", "x")
    backend.push(queue, "done", "x")
    backend.push(queue, "held", "x")
    got = _receipts(backend, queue)
    backend.dead_letter(queue, "dead", got["dead"].receipt, "why")
    backend.ack(queue, "done", got["done"].receipt)
    backend.push(queue, "waiting", "x")
    backend.push(queue, "delayed", "x", delay=600)
    return {"held": got["held"].receipt}


def test_nan_and_infinite_numbers_are_refused_changing_nothing(backend: RedisBackend, queue: str) -> None:
    """Finding 5: push(delay=nan) raised "not queued" but took the id; a NaN release
    delay left the task in no structure at all."""
    held = _populated(backend, queue)["held"]
    before = snapshot(backend, queue)
    calls: list[Callable[[float], object]] = [
        lambda bad: backend.push(queue, "new", "x", delay=bad),
        lambda bad: backend.push_many(queue, [("new", "x", 0.0), ("new2", "x", bad)]),
        lambda bad: backend.release(queue, "held", held, delay=bad),
        lambda bad: backend.reserve(queue, bad, 5),
        lambda bad: backend.get(queue, "waiting", bad),
        lambda bad: backend.extend(queue, "held", held, bad),
        lambda bad: backend.reserve(queue, LEASE, 5, timeout=math.nan),
    ]
    for bad in [math.nan, math.inf, -math.inf]:
        for call in calls:
            with pytest.raises(ValueError, match="must be a"):
                call(bad)
            assert snapshot(backend, queue) == before
    assert backend.push(queue, "new", "x") is True
    assert backend.release(queue, "held", held, delay=0.0) is True


# Good arguments of every script, and what each numeric position holds: "n" a
# finite number, "w" a whole one (a count, a size, a flag), "t" a status_ttl
# (infinite is fine: statuses kept for ever).
_SCRIPT_CALLS: dict[str, tuple[list[Any], dict[int, str]]] = {
    "push": (["", "new", "x", 0], {0: "n", 3: "n"}),
    "push_many": (["", 3, "new", "x", 0, "new2", "x", 5], {0: "n", 1: "w", 4: "n", 7: "n"}),
    "push_prioritized": (
        ["", "new", "x", 0, 5, "new2", "x", 5, -3],
        {0: "n", 3: "n", 4: "p", 7: "n", 8: "p"},
    ),
    "reserve": (
        ["", LEASE, 10, 1000, 3600, 1024, 100, 3600],
        {0: "n", 1: "n", 2: "w", 3: "w", 4: "t", 5: "w", 6: "w", 7: "t"},
    ),
    "ack": (["", 3600, "held", "{held}", 60, "[1]"], {0: "n", 1: "t", 4: "n"}),
    "release": (["", "held", "{held}", 0, "1"], {0: "n", 3: "n", 4: "w"}),
    "extend": (["", LEASE, "held", "{held}"], {0: "n", 1: "n"}),
    "dead_letter": (["", 3600, "held", "{held}", "why", 100, 3600], {0: "n", 1: "t", 5: "w", 6: "t"}),
    "get": (
        ["", "waiting", LEASE, 1000, 3600, 1024, 100, 3600],
        {0: "n", 2: "n", 3: "w", 4: "t", 5: "w", 6: "w", 7: "t"},
    ),
    "peek": (["", "waiting", 1000], {0: "n", 2: "w"}),
    "cancel": (["", "waiting"], {0: "n"}),
    "status": (["", 3600, "waiting", 3600], {0: "n", 1: "t", 3: "t"}),
    "len": ([""], {0: "n"}),
    "dead_letters": (["", 10, 1000, 1024, 100, 3600], {0: "n", 1: "w", 2: "w", 3: "w", 4: "w", 5: "t"}),
    "requeue": (["", "dead"], {0: "n"}),
    "counts": (["", 3600], {0: "n", 1: "t"}),
    "tasks": (["", "dead", 0, 10, 1000, 100, 3600], {0: "n", 2: "w", 3: "w", 4: "w", 5: "w", 6: "t"}),
    "delete_dead": (["dead"], {}),
    "purge_dead": ([], {}),
    "requeue_all": ([""], {0: "n"}),
    "finished": (["", 3600, "held", 1000, 3600], {0: "n", 1: "t", 3: "w", 4: "t"}),
    "succeeded": (["", 3600, 0, 10, 1000, 100], {0: "n", 1: "t", 2: "w", 3: "w", 4: "w", 5: "w"}),
    "due": ([""], {0: "n"}),
}
_BAD = {
    "n": ["nan", "inf", "-inf", "1e400", "abc", "0x"],
    "w": ["nan", "inf", "-inf", "1e400", "abc", "0x", "0.5", "-1"],
    "t": ["nan", "-inf", "abc", "0x", "-1"],
    "p": ["nan", "inf", "abc", "0x", "0.5", "101", "-101", "1e400"],
}


_CORRUPT = ["attempts", "failures", "attempts_huge", "seq", "seq_huge", "dead"]


# Every case runs against the real server; fakeredis's cases over corrupt
# stored numbers (the same scripts through an emulation of Redis, about half
# of the Redis session's time in this test) run in `nox -s soak`.
@pytest.mark.parametrize(
    ("backend", "stored"),
    [
        *(pytest.param("redis", stored, marks=pytest.mark.redis) for stored in ["", *_CORRUPT]),
        ("fakeredis", ""),
        *(pytest.param("fakeredis", stored, marks=pytest.mark.soak) for stored in _CORRUPT),
    ],
    indirect=["backend"],
)
def test_every_script_checks_its_arguments_before_its_first_write(
    backend: RedisBackend, queue: str, stored: str
) -> None:
    """Redis does not roll back a script that fails half-way: drive every script
    with a bad number at each of its numeric positions; each is refused, and
    the queue's keys stay byte for byte as they were. Also over a queue whose
    stored numbers are corrupt (C9; ``stored`` names which, see ``_STORED``)."""
    assert set(_SCRIPT_CALLS) == {script.name for script in scripts.SCRIPTS}
    held = _populated(backend, queue)["held"]
    if stored:
        for command in _STORED[stored](scripts.queue_keys(queue), ["held", "waiting", "delayed"]):
            backend.client.execute_command(*command)
    keys = backend._queue(queue)
    before = snapshot(backend, queue)
    trials = 0
    for name, (good, positions) in _SCRIPT_CALLS.items():
        script = getattr(backend, f"_{name}")
        args = [held if arg == "{held}" else arg for arg in good]
        for position, kind in positions.items():
            for bad in _BAD[kind]:
                trial = list(args)
                trial[position] = bad
                with pytest.raises(redis.ResponseError):
                    backend._eval(script, keys.of[name], *trial)
                assert snapshot(backend, queue) == before, (name, position, bad)
                trials += 1
    assert trials > 150
    backend.status_ttl = math.inf
    backend.ack(queue, "held", held)
    assert backend.status(queue, "held") == SUCCESS


# -- finding 12: queue names never share keys -------------------------------------------


def test_names_that_shared_keys_do_not_any_more(backend: RedisBackend) -> None:
    """``ab{c`` was hex-encoded as ``x61627b63``, the very name of another queue."""
    names = ["ab{c", "x61627b63", "%61627b63", "", "%"]
    try:
        for name in names:
            backend.push(name, "t1", f"payload of {name!r}")
        for name in names:
            [got] = backend.reserve(name, LEASE)
            assert got.payload == f"payload of {name!r}"
    finally:
        for name in names:
            backend.drop_all(name)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_queue_key_encoding_is_injective(first: str, second: str) -> None:
    first_keys, second_keys = scripts.queue_keys(first), scripts.queue_keys(second)
    if first != second:
        assert not set(first_keys.values()) & set(second_keys.values())
    # All of a queue's keys hash to one Redis Cluster slot.
    assert len({key_slot(key.encode("utf-8", "surrogatepass")) for key in first_keys.values()}) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab{}%x0123456789", max_size=10), st.text(alphabet="ab{}%x0123456789", max_size=10))
def test_queue_key_encoding_is_injective_near_the_escapes(first: str, second: str) -> None:
    if first != second:
        assert scripts.hash_tag(first) != scripts.hash_tag(second)


# -- finding 13 and issue 9 item 5: DSNs --------------------------------------------------


def test_a_query_password_never_appears_in_messages() -> None:
    dsn = "redis://127.0.0.1:1/0?password=hunter2&socket_connect_timeout=0.5"
    backend = RedisBackend(dsn)
    assert "hunter2" not in backend.describe()
    for call in [lambda: backend.push("q", "t1", "x"), lambda: backend.reserve("q", LEASE), backend.now]:
        with pytest.raises(BackendError, match="cannot reach Redis") as caught:
            call()
        assert "hunter2" not in str(caught.value)
        assert "password=***" in str(caught.value)
    with pytest.raises(InvalidDSNError) as refused:
        RedisBackend("redis://:hunter2@127.0.0.1:6379/abc?password=hunter2")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("dsn", "named"),
    [
        ("redis://localhost:6379/abc", "the database must be a number, not 'abc'"),
        ("redis://localhost:6379/2?db=3", "two different databases: 2 in the path and 3 in ?db="),
        (
            "redis://localhost/0?socket_timout=3",
            "unknown option 'socket_timout' (did you mean socket_timeout?)",
        ),
        ("redis://localhost:6379/0?db=x", "the database must be a number, not 'x'"),
        ("redis://localhost:port/0", "the port is not a number"),
        ("redis://localhost:6379/0?ssl_ca_certs=/x", "unknown option 'ssl_ca_certs'"),
        ("redis://localhost:6379/0?cluster=true&read_from_replica=1", "did you mean read_from_replicas?"),
        ("redis://localhost:6379/0?db=1&db=2", "option 'db' is given twice"),
        (
            "redis://localhost:6379/0?socket_timeout=soon",
            "option 'socket_timeout' must be a number, not 'soon'",
        ),
    ],
)
def test_dsn_typos_are_refused_by_the_constructor(dsn: str, named: str) -> None:
    """Issue 9 item 5: ``?socket_timout=3`` passed Gator() and raised a raw TypeError
    at the first enqueue; ``/abc`` silently meant database 0."""
    with pytest.raises(InvalidDSNError) as refused:
        Gator(dsn)
    assert named in str(refused.value)


@pytest.mark.parametrize(
    "dsn",
    [
        "redis://localhost:6379/2?db=2",
        "redis://localhost",
        "redis://localhost/",
        "rediss://localhost:6380/0?ssl_cert_reqs=none",
        "unix:///tmp/redis.sock?db=2",
        "redis://localhost:6379/0?socket_timeout=3&health_check_interval=30&max_connections=5",
    ],
)
def test_good_dsns_still_pass(dsn: str) -> None:
    RedisBackend(dsn).close()


# -- issue 9 item 10: drop_all leaves nothing -------------------------------------------


def test_drop_all_deletes_every_key_of_the_queue(backend: RedisBackend, queue: str) -> None:
    backend.max_payload_bytes = 5
    _populated(backend, queue)
    plant(backend, queue, "big", b"123456")
    got = _receipts(backend, queue)
    backend.release(queue, "waiting", got["waiting"].receipt)
    assert backend.client.exists(*scripts.queue_keys(queue).values()) >= 10
    backend.drop_all(queue)
    assert backend.client.exists(*scripts.queue_keys(queue).values()) == 0


def test_a_receipt_from_before_drop_all_is_refused_after_it(backend: RedisBackend, queue: str) -> None:
    """The sequence counter goes with drop_all; a fresh one starts from the clock."""
    backend.push(queue, "t1", "x")
    [old] = backend.reserve(queue, LEASE)
    backend.drop_all(queue)
    backend.push(queue, "t1", "x")
    [new] = backend.reserve(queue, LEASE)
    assert new.receipt != old.receipt
    assert backend.ack(queue, "t1", old.receipt) is False
    assert backend.ack(queue, "t1", new.receipt) is True
    assert backend.status(queue, "t1") == SUCCESS


def test_the_docstring_examples_run() -> None:
    for module in [alligator_redis, scripts]:
        failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failed == 0


# -- round 2: DSN values that passed the constructor --------------------------------------


@pytest.mark.parametrize(
    ("dsn", "named"),
    [
        ("redis://127.0.0.1:6379/7?socket_timeout=-1", "option 'socket_timeout' must be a number from"),
        ("redis://127.0.0.1:6379/7?socket_timeout=nan", "option 'socket_timeout' must be a number from"),
        ("redis://127.0.0.1:6379/7?socket_connect_timeout=inf", "option 'socket_connect_timeout'"),
        ("redis://127.0.0.1:6379/7?socket_timeout=0", "option 'socket_timeout' must be a number from"),
        ("redis://127.0.0.1:6379/7?health_check_interval=-5", "option 'health_check_interval'"),
        ("redis://127.0.0.1:6379/7?max_connections=0", "option 'max_connections'"),
        ("redis://127.0.0.1:6379/7?max_connections=1.5", "option 'max_connections' must be a number"),
        (
            "redis://127.0.0.1:6379/7?retry_on_timeout=maybe",
            "option 'retry_on_timeout' must be true or false",
        ),
        ("redis://127.0.0.1:6379/7?socket_keepalive=", "option 'socket_keepalive' must be true or false"),
        ("redis://127.0.0.1:6379/7?cluster=perhaps", "option 'cluster' must be true or false"),
    ],
)
def test_dsn_values_out_of_range_are_refused_by_the_constructor(dsn: str, named: str) -> None:
    """Round 2: ``?socket_timeout=-1`` (or nan) passed Gator(), then every enqueue
    raised a raw ValueError and latergator retried for ever; ``?retry_on_timeout=maybe``
    was read as true."""
    with pytest.raises(InvalidDSNError) as refused:
        Gator(dsn)
    assert named in str(refused.value)


def test_an_unparsable_dsn_is_an_invalid_dsn_error() -> None:
    """Round 2: ``[::1:6379`` raised a raw ValueError "Invalid IPv6 URL" from the backend."""
    with pytest.raises(
        InvalidDSNError, match=r"could not be parsed \(a host in \[brackets\] is not closed\)"
    ):
        RedisBackend("redis://:pw@[::1:6379/7")


@pytest.mark.parametrize("special", ["#", "?", "/"])
@pytest.mark.parametrize("password", ["hunter{}2", "1234{}5678"])
def test_a_password_with_an_unencoded_special_character_is_never_shown(special: str, password: str) -> None:
    """Round 2: ``redis://:hunter#2@...`` was refused with "Port could not be cast to
    integer value as 'hunter'", half the password; a digits-only half parsed as a port."""
    secret = password.format(special)
    with pytest.raises(InvalidDSNError) as refused:
        Gator(f"redis://:{secret}@127.0.0.1:6379/7")
    message = str(refused.value)
    assert "could not be parsed" in message and "percent-encode" in message
    for part in {secret, *secret.split(special)} - {"2"}:
        assert part not in message, part
    # Percent-encoded, the same password is a good DSN.
    encoded = secret.replace(special, {"#": "%23", "?": "%3F", "/": "%2F"}[special])
    RedisBackend(f"redis://:{encoded}@127.0.0.1:6379/7").close()


@pytest.mark.parametrize(
    "dsn",
    [
        "redis://127.0.0.1:6379/7?socket_timeout=2.5&retry_on_timeout=yes&socket_keepalive=False",
        "redis://127.0.0.1:6379/7?health_check_interval=0&max_connections=10&retry_on_timeout=0",
        "redis://127.0.0.1:6379/7?cluster=no",
    ],
)
def test_good_dsn_values_still_pass(dsn: str) -> None:
    RedisBackend(dsn).close()


# -- round 2, C9: stored counters and times are hostile input too -------------------------


def _consistent(backend: RedisBackend, queue: str) -> None:
    """Every task is in exactly one structure, whole: no script left half its writes.

    Waiting and delayed: a ``members`` entry and its member in ``pending``,
    ``ranked_pending`` or ``ranked``; reserved: a receipt and a lease; either
    way a payload. A dead letter has its four fields (and its priority, when
    not 0) and nothing live.
    """
    keys = scripts.queue_keys(queue)
    client = backend.client
    members = client.hgetall(keys["members"])
    pending = [
        member
        for name in ("pending", "ranked_pending", "ranked")
        for member in client.zrange(keys[name], 0, -1)
    ]
    assert sorted(members.values()) == sorted(pending)
    assert all(member[17:] == task_id for task_id, member in members.items())
    receipts = set(client.hkeys(keys["receipts"]))
    assert receipts == set(client.zrange(keys["leases"], 0, -1))
    assert not receipts & set(members)
    live = receipts | set(members)
    assert set(client.hkeys(keys["payloads"])) == live
    assert set(client.hkeys(keys["attempts"])) <= live
    assert set(client.hkeys(keys["failures"])) <= live
    dead = set(client.zrange(keys["dead_order"], 0, -1))
    assert not dead & live
    assert set(client.hkeys(keys["priorities"])) <= live
    # The client decodes responses: the ids are str, whatever the stubs say.
    fields = {str(field) for field in client.hkeys(keys["dead"])}
    priorities = {field for field in fields if field.startswith("y:")}
    assert fields - priorities == {f"{kind}:{task_id}" for task_id in dead for kind in "prat"}  # type: ignore[str-bytes-safe]
    assert priorities <= {f"y:{task_id}" for task_id in dead}  # type: ignore[str-bytes-safe]


@pytest.mark.parametrize("field", ["attempts", "failures"])
def test_a_corrupt_stored_counter_is_dead_lettered_alone(
    backend: RedisBackend, queue: str, field: str
) -> None:
    """Round 2: ``HSET attempts <id> abc`` made every reserve fail with "hash value is
    not an integer" after its leases were taken: the task was re-leased on every
    reserve and never dead-lettered, and a valid task of the same batch was left
    in no structure (WAITING for ever). With ``failures abc`` Python raised on a
    misaligned reply."""
    for n in range(1, 6):
        backend.push(queue, f"t{n}", f"payload {n}")
    backend.client.hset(scripts.queue_keys(queue)[field], "t2", "abc")
    got = backend.reserve(queue, LEASE, 10)
    assert [(r.task_id, r.payload, r.attempts, r.failures) for r in got] == [
        (f"t{n}", f"payload {n}", 1, 0) for n in (1, 3, 4, 5)
    ]
    [letter] = backend.dead_letters(queue)
    assert (letter.task_id, letter.reason) == ("t2", f"record is corrupt: {field} is 'abc'")
    assert (letter.payload, letter.attempts) == ("payload 2", 1)
    assert backend.status(queue, "t2") == FAILED
    _consistent(backend, queue)
    assert backend.ack_many(queue, [(r.task_id, r.receipt) for r in got]) == 4
    assert backend.len(queue) == 0


def test_a_corrupt_value_in_a_reason_is_shortened_and_printable(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "t1", "x")
    backend.client.hset(scripts.queue_keys(queue)["attempts"], "t1", "1\n" + "9" * 100)
    assert backend.get(queue, "t1", LEASE) is None
    [letter] = backend.dead_letters(queue)
    assert letter.reason == "record is corrupt: attempts is '1?" + "9" * 38 + "...'"


@pytest.mark.parametrize("field", ["attempts", "failures"])
@pytest.mark.parametrize("attempted", [True, False])
def test_a_reserved_task_whose_counter_was_corrupted_is_dead_lettered_at_release(
    backend: RedisBackend, queue: str, field: str, attempted: bool
) -> None:
    """RELEASE unleased the task, then HINCRBY failed: the task was in no structure."""
    backend.push(queue, "t1", "x")
    backend.push(queue, "t2", "y")
    got = _receipts(backend, queue)
    backend.client.hset(scripts.queue_keys(queue)[field], "t1", "1.5")
    assert backend.release(queue, "t1", got["t1"].receipt, attempted=attempted) is True
    assert backend.release(queue, "t2", got["t2"].receipt, attempted=attempted) is True
    [letter] = backend.dead_letters(queue)
    assert (letter.task_id, letter.reason, letter.attempts) == (
        "t1",
        f"record is corrupt: {field} is '1.5'",
        0,
    )
    assert backend.status(queue, "t1") == FAILED
    _consistent(backend, queue)
    [again] = backend.reserve(queue, LEASE, 10)
    assert (again.task_id, again.failures) == ("t2", 1 if attempted else 0)


def test_listing_dead_letters_with_corrupt_numbers_never_raises(backend: RedisBackend, queue: str) -> None:
    """Round 2: a dead letter whose stored ``a:`` field is no number made dead_letters() raise."""
    for task_id in ["t1", "t2", "t3"]:
        backend.push(queue, task_id, "x")
    for r in backend.reserve(queue, LEASE, 10):
        backend.dead_letter(queue, r.task_id, r.receipt, "why")
    dead = scripts.queue_keys(queue)["dead"]
    backend.client.hset(dead, mapping={"a:t1": "abc", "t:t1": "nan", "a:t2": "-3", "t:t2": "soon"})
    backend.client.hdel(dead, "a:t3", "t:t3")
    letters = backend.dead_letters(queue)
    assert [(d.task_id, d.attempts, d.failed_at) for d in letters] == [
        ("t1", 0, 0.0),
        ("t2", 0, 0.0),
        ("t3", 0, 0.0),
    ]


#: Commands that corrupt stored numbers, given the queue's keys and task ids.
_STORED: dict[str, Callable[[dict[str, str], list[str]], list[tuple[str, ...]]]] = {
    "attempts": lambda keys, ids: [("HSET", keys["attempts"], task_id, "abc") for task_id in ids],
    "failures": lambda keys, ids: [("HSET", keys["failures"], task_id, "1e3") for task_id in ids],
    "attempts_huge": lambda keys, ids: [("HSET", keys["attempts"], task_id, "9" * 30) for task_id in ids],
    "seq": lambda keys, ids: [("SET", keys["seq"], "abc")],
    "seq_huge": lambda keys, ids: [("SET", keys["seq"], "9" * 19)],
    "dead": lambda keys, ids: [("HSET", keys["dead"], "a:dead", "abc", "t:dead", "nan")],
}


@pytest.mark.parametrize("stored", sorted(_STORED))
def test_every_script_survives_corrupt_stored_numbers(backend: RedisBackend, queue: str, stored: str) -> None:
    """C9: drive every script over a queue whose stored numbers (counters of every
    live task, the sequence counter, a dead letter's fields) are no numbers: no
    script fails, none leaves a task half-moved, and the Python side lists and
    counts without raising."""
    keys = scripts.queue_keys(queue)
    for name, (good, _) in _SCRIPT_CALLS.items():
        backend.drop_all(queue)
        held = _populated(backend, queue)["held"]
        for command in _STORED[stored](keys, ["held", "waiting", "delayed"]):
            backend.client.execute_command(*command)
        args = [held if arg == "{held}" else arg for arg in good]
        try:
            backend._eval(getattr(backend, f"_{name}"), backend._queue(queue).of[name], *args)
        except redis.ResponseError as err:
            pytest.fail(f"{name} failed on a corrupt {stored}: {err}")
        _consistent(backend, queue)
        backend.dead_letters(queue)
        backend.len(queue)
        for task_id in ["held", "waiting", "delayed", "dead", "done"]:
            backend.status(queue, task_id)


def test_the_sequence_counter_counts_on_from_a_stored_value(backend: RedisBackend, queue: str) -> None:
    """Receipts keep counting from the stored counter (16 digits today), and only a
    counter that is no whole number starts afresh."""
    seq = scripts.queue_keys(queue)["seq"]
    backend.client.set(seq, "1790000000000000")
    backend.push(queue, "t1", "x")
    assert backend.client.get(seq) == "1790000000000001"
    backend.client.set(seq, "abc")
    backend.push(queue, "t2", "x")
    first, second = backend.reserve(queue, LEASE, 2)
    assert int(first.receipt) + 1 == int(second.receipt) > 10**15


# -- round 2, C8: task ids in the store are bounded too -----------------------------------


def _recording(backend: RedisBackend) -> list[Any]:
    """Notes every reply the backend receives from here on."""
    replies: list[Any] = []
    execute = backend._execute

    def recording(*args: Any, **options: Any) -> Any:
        reply = execute(*args, **options)
        replies.append(reply)
        return reply

    backend._execute = recording
    return replies


def test_a_huge_task_id_is_dead_lettered_under_its_cut_without_being_sent(
    backend: RedisBackend, queue: str
) -> None:
    """Round 2: one record with a 64 MiB id took a worker to 224 MiB: ids were never
    size-checked. It is dead-lettered under its first max_task_id_bytes bytes (a
    sequence cut in half reads as U+FFFD), and never crosses the wire."""
    backend.max_task_id_bytes = 1001
    huge = "é" * 1_500_000  # 3,000,000 bytes
    cut = huge.encode()[:1001].decode("utf-8", "replace")
    assert cut == "é" * 500 + "\ufffd"
    backend.push(queue, "small", "s")
    plant(backend, queue, huge, b"payload of the huge one")
    backend.push(queue, "edge", "e")
    plant(backend, queue, "i" * 1001, b"at the limit")
    replies = _recording(backend)
    got = backend.reserve(queue, LEASE, 10)
    assert [r.task_id for r in got] == ["small", "edge", "i" * 1001]
    letters = backend.dead_letters(queue)
    received = sum(_size(reply) for reply in replies)
    assert received < 20_000, "the huge id crossed the wire"
    [letter] = letters
    assert (letter.task_id, letter.reason) == (cut, "task id is 3000000 bytes, over the limit of 1001")
    assert (letter.payload, letter.attempts) == ("payload of the huge one", 1)
    assert backend.status(queue, cut) == FAILED
    _consistent(backend, queue)


def test_get_dead_letters_a_huge_task_id(backend: RedisBackend, queue: str) -> None:
    backend.max_task_id_bytes = 100
    plant(backend, queue, "h" * 101, b"x")
    assert backend.get(queue, "h" * 101, LEASE) is None
    [letter] = backend.dead_letters(queue)
    assert (letter.task_id, letter.reason) == ("h" * 100, "task id is 101 bytes, over the limit of 100")
    # A dead letter like any other: requeued, it runs under the cut id.
    assert backend.requeue(queue, "h" * 100) is True
    [again] = backend.reserve(queue, LEASE, 10)
    assert (again.task_id, again.payload, again.attempts) == ("h" * 100, "x", 1)


def test_dead_letters_never_lists_an_id_over_the_limit(backend: RedisBackend, queue: str) -> None:
    """A dead letter written by hand with a huge id is listed cut, never sent whole."""
    keys = scripts.queue_keys(queue)
    huge = "d" * 2_000_000
    backend.client.hset(
        keys["dead"], mapping={f"p:{huge}": "x", f"r:{huge}": "why", f"a:{huge}": "1", f"t:{huge}": "5"}
    )
    backend.client.zadd(keys["dead_order"], {huge: 1})
    backend.dead_letter_ttl = math.inf  # it failed at 5.0, in 1970: keep it
    replies = _recording(backend)
    [letter] = backend.dead_letters(queue)
    assert sum(_size(reply) for reply in replies) < 20_000
    assert (letter.task_id, letter.reason, letter.attempts) == ("d" * backend.max_task_id_bytes, "why", 1)


def test_a_huge_id_whose_cut_is_taken_never_overwrites_that_task(backend: RedisBackend, queue: str) -> None:
    """The cut of a huge id may be the id of a live task or of a dead letter: neither
    is overwritten; the huge record, with no id of its own to keep it under, is dropped."""
    backend.max_task_id_bytes = 10
    backend.push(queue, "a" * 10, "live")
    backend.push(queue, "b" * 10, "dead")
    [got] = backend.reserve(queue, LEASE, 1)
    [dead] = backend.reserve(queue, LEASE, 1)
    backend.dead_letter(queue, dead.task_id, dead.receipt, "why")
    plant(backend, queue, "a" * 11, b"huge a")
    plant(backend, queue, "b" * 11, b"huge b")
    assert backend.reserve(queue, LEASE, 10) == []
    [letter] = backend.dead_letters(queue)
    assert (letter.task_id, letter.payload, letter.reason) == ("b" * 10, "dead", "why")
    assert backend.peek(queue, "a" * 10) == "live"
    _consistent(backend, queue)
    assert backend.ack(queue, got.task_id, got.receipt) is True
