"""Redis's priorities: their keys (none for a queue at priority 0), and stored priorities that are none."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import fakeredis
import pytest
from redis_servers import RedisServer

from alligator.testing import FakeClock
from alligator_redis import RedisBackend
from alligator_redis.keys import queue_keys

LEASE = 30.0
#: The keys only a task of another priority than 0 makes.
PRIORITY_KEYS = ("ranked_pending", "ranked", "priorities", "ranked_due")


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    if request.param == "fakeredis":
        made = RedisBackend.from_client(fakeredis.FakeRedis(decode_responses=True))
    else:
        server: RedisServer = request.getfixturevalue("private_redis")
        made = RedisBackend(server.url(0))
    made.clock = FakeClock()
    yield made
    made.close()


@pytest.fixture
def queue(backend: RedisBackend) -> Iterator[str]:
    name = f"prio-{uuid.uuid4().hex[:8]}"
    yield name
    backend.drop_all(name)


def _exists(backend: RedisBackend, queue: str, *names: str) -> list[str]:
    keys = queue_keys(queue)
    return [name for name in names if backend.client.exists(keys[name])]


def test_a_queue_at_priority_0_never_makes_a_priority_key(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "a", "x")
    backend.push_many(queue, [("b", "x", 0.0), ("c", "x", 5.0)])
    backend.push_prioritized(queue, [("d", "x", 0.0, 0)])
    first, second = backend.reserve(queue, LEASE, 2)
    assert backend.release(queue, first.task_id, first.receipt)
    assert backend.ack(queue, second.task_id, second.receipt)
    held = backend.get(queue, "c", LEASE)
    assert held is not None and backend.dead_letter(queue, "c", held.receipt, "broke")
    assert backend.requeue(queue, "c")
    assert [t.task_id for t in backend.tasks(queue, "waiting")] == ["d", "a", "c"]
    assert _exists(backend, queue, *PRIORITY_KEYS) == []


def test_the_keys_of_a_priority_are_gone_with_its_task(backend: RedisBackend, queue: str) -> None:
    backend.push_prioritized(queue, [("a", "x", 0.0, 5), ("b", "x", 0.0, -5), ("c", "x", 9.0, 1)])
    assert backend.cancel(queue, "c")
    first, second = backend.reserve(queue, LEASE, 2)
    assert (first.task_id, second.task_id) == ("a", "b")
    assert backend.ack(queue, "a", first.receipt)
    assert backend.dead_letter(queue, "b", second.receipt, "broke")
    assert _exists(backend, queue, *PRIORITY_KEYS) == []
    assert backend.delete_dead(queue, "b")
    assert backend.client.hkeys(queue_keys(queue)["dead"]) == []


@pytest.mark.parametrize("value", ["high", "101", "-101", "1.5", "", "12345", "0x10"])
def test_a_stored_priority_that_is_none_is_dead_lettered_by_reserve(
    backend: RedisBackend, queue: str, value: str
) -> None:
    backend.push_prioritized(queue, [("before", "b", 0.0, 5), ("planted", "p", 0.0, 3)])
    backend.push(queue, "after", "a")
    backend.client.hset(queue_keys(queue)["priorities"], "planted", value)
    got = backend.reserve(queue, LEASE, 10)
    assert [r.task_id for r in got] == ["before", "after"]
    [letter] = backend.dead_letters(queue)
    assert letter.task_id == "planted"
    assert letter.reason.startswith("record is corrupt: priority is '"), letter.reason
    assert backend.len(queue) == 0


def test_get_dead_letters_a_task_whose_priority_is_none(backend: RedisBackend, queue: str) -> None:
    backend.push_prioritized(queue, [("t", "x", 5.0, 5)])
    backend.client.hset(queue_keys(queue)["priorities"], "t", "x")
    assert backend.get(queue, "t", LEASE) is None
    [letter] = backend.dead_letters(queue)
    assert letter.reason == "record is corrupt: priority is 'x'"


def test_a_bad_priority_kept_with_a_dead_letter_is_buried_again_after_requeue(
    backend: RedisBackend, queue: str
) -> None:
    backend.push_prioritized(queue, [("t", "x", 0.0, 5)])
    [held] = backend.reserve(queue, LEASE)
    assert backend.dead_letter(queue, "t", held.receipt, "broke")
    backend.client.hset(queue_keys(queue)["dead"], "y:t", "lots")
    assert backend.requeue(queue, "t")
    assert backend.status(queue, "t") is not None
    assert backend.reserve(queue, LEASE) == []
    [letter] = backend.dead_letters(queue)
    assert letter.reason == "record is corrupt: priority is 'lots'"


def test_the_listing_of_waiting_tasks_and_reserve_agree(backend: RedisBackend, queue: str) -> None:
    backend.push_prioritized(queue, [("a", "x", 0.0, 5), ("b", "x", 0.0, 7)])
    backend.push(queue, "plain", "x")
    assert [t.task_id for t in backend.tasks(queue, "waiting")] == ["b", "a", "plain"]
    assert [r.task_id for r in backend.reserve(queue, LEASE, 3)] == ["b", "a", "plain"]
