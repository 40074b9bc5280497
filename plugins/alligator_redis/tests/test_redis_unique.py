"""Redis's unique keys: records a hostile writer planted hold nothing and break nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import fakeredis
import pytest
import redis

from alligator.exceptions import BackendError
from alligator_redis import RedisBackend
from alligator_redis.keys import queue_keys

HOSTILE: list[str | bytes] = [
    "until_finished\tsoon\tholder",  # an end that is no number
    "until_finished\tinf\tholder",  # an end that never comes
    "until_finished\tnan\tholder",
    "forever\t1e18\tholder",  # a mode nobody writes
    "no tabs at all",
    b"until_finished\t1e18\t\xff\xfe",  # a holder that is not UTF-8
    "until_finished\t1e18\t",  # no holder
    "x" * 100_000,
]


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    if request.param == "fakeredis":
        made = RedisBackend.from_client(fakeredis.FakeRedis(decode_responses=True))
    else:
        made = RedisBackend(request.getfixturevalue("redis_url"))
    yield made
    made.close()


@pytest.fixture
def queue(backend: RedisBackend) -> Iterator[str]:
    name = f"unique-{uuid.uuid4().hex[:12]}"
    yield name
    backend.drop_all(name)


def _raw(backend: RedisBackend) -> redis.Redis:
    client = backend.client
    assert isinstance(client, redis.Redis)
    return client


@pytest.mark.parametrize("record", HOSTILE, ids=range(len(HOSTILE)))
def test_a_planted_record_holds_nothing_and_is_replaced(
    backend: RedisBackend, queue: str, record: str | bytes
) -> None:
    keys = queue_keys(queue)
    assert backend.push(queue, "holder", "p")
    _raw(backend).hset(keys["unique"], "k", record)
    _raw(backend).zadd(keys["unique_ends"], {"k": 1e18})
    _raw(backend).hset(keys["unique"], b"\xff", "until_finished\t1e18\tholder")
    _raw(backend).zadd(keys["unique_ends"], {b"\xff": 1e18})
    assert backend.unique_keys(queue) == []
    assert backend.push_unique(queue, "b", "p", 0.0, "k", "until_finished", 60.0) == (True, "")
    assert [(k.key, k.holder) for k in backend.unique_keys(queue)] == [("k", "b")]
    assert backend.push_unique(queue, "c", "p", 0.0, "k", "until_finished", 60.0) == (False, "b")


def test_a_unique_key_of_the_wrong_type_fails_the_push_cleanly(backend: RedisBackend, queue: str) -> None:
    _raw(backend).set(queue_keys(queue)["unique"], "not a hash")
    with pytest.raises(BackendError, match="it was not queued"):
        backend.push_unique(queue, "a", "p", 0.0, "k", "until_finished", 60.0)
    assert backend.len(queue) == 0, "the script failed before its first write"


def test_drop_all_forgets_the_keys(backend: RedisBackend, queue: str) -> None:
    assert backend.push_unique(queue, "a", "p", 0.0, "k", "until_finished", 60.0)[0]
    backend.drop_all(queue)
    assert backend.push_unique(queue, "b", "p", 0.0, "k", "until_finished", 60.0) == (True, "")
