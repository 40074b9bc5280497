"""push.lua draws its sequence number with one INCR: what a stored counter of any kind leads to.

The push script is written out rather than built from pending.lua's helpers
(issue 20, point 3); these pin down that it draws numbers as ``next_seq(1)``
does, and that no stored counter, however odd, stops it half-way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from alligator_redis import RedisBackend, scripts

pytestmark = pytest.mark.redis

LEASE = 30.0
LAST_EXACT = 2**53 - 1


@pytest.fixture
def queue() -> str:
    return f"pushlua-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def backend(redis_url: str, queue: str) -> Iterator[RedisBackend]:
    made = RedisBackend(redis_url)
    yield made
    made.drop_all(queue)
    made.close()


def _member_number(backend: RedisBackend, queue: str, task_id: str) -> int:
    member = backend.client.hget(scripts.queue_keys(queue)["members"], task_id)
    assert isinstance(member, str)
    return int(member.partition(":")[0])


@pytest.mark.parametrize("stored", [1790000000000000, LAST_EXACT - 1])
def test_a_stored_counter_counts_on(backend: RedisBackend, queue: str, stored: int) -> None:
    seq = scripts.queue_keys(queue)["seq"]
    backend.client.set(seq, str(stored))
    assert backend.push(queue, "t", "x") is True
    assert _member_number(backend, queue, "t") == stored + 1
    assert backend.client.get(seq) == str(stored + 1)


@pytest.mark.parametrize("stored", [None, "0", "-5", "abc", "0005", str(LAST_EXACT), "9" * 19])
def test_a_fresh_or_odd_counter_starts_from_the_clock(
    backend: RedisBackend, queue: str, stored: str | None
) -> None:
    seq = scripts.queue_keys(queue)["seq"]
    if stored is not None:
        backend.client.set(seq, stored)
    assert backend.push(queue, "t", "x") is True
    number = _member_number(backend, queue, "t")
    assert 10**15 < number < LAST_EXACT
    assert backend.client.get(seq) == str(number)
    assert backend.push(queue, "u", "x") is True
    assert _member_number(backend, queue, "u") == number + 1


def test_a_counter_of_the_wrong_type_is_replaced_not_half_done(backend: RedisBackend, queue: str) -> None:
    """A list where the counter belongs: the task is queued whole, never left in
    the payloads alone (the write before the counter is not rolled back)."""
    seq = scripts.queue_keys(queue)["seq"]
    backend.client.rpush(seq, "not a counter")
    assert backend.push(queue, "t", "x") is True
    [held] = backend.reserve(queue, LEASE)
    assert held.task_id == "t"
    assert backend.ack(queue, "t", held.receipt) is True


def test_tasks_pushed_one_by_one_come_out_in_order(backend: RedisBackend, queue: str) -> None:
    for n in range(20):
        backend.push(queue, f"t{n}", "x")
    taken = backend.reserve(queue, LEASE, 20)
    assert [r.task_id for r in taken] == [f"t{n}" for n in range(20)]
    for held in taken:
        backend.ack(queue, held.task_id, held.receipt)
