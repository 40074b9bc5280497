"""Redis's limit keys: what a hostile writer plants (wrong types, absurd times, bad members) is survived."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
from redis_servers import RedisServer

from alligator.limit_store import LimitState
from alligator_redis import RedisBackend
from alligator_redis.limits import INDEX_KEY, keys_of


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    if request.param == "fakeredis":
        made = RedisBackend.from_client(fakeredis.FakeRedis(decode_responses=True))
        yield made
        made.close()
        return
    # A server of the test's own: the limits' index is one key per db.
    server: RedisServer = request.getfixturevalue("private_redis")
    made = RedisBackend(server.url(0))
    yield made
    made.close()


def test_every_key_of_a_limit_carries_the_one_hash_tag() -> None:
    names = keys_of("customer:{7}")
    assert all(name.startswith("alligator:{%limits}:") for name in names.values())
    assert len(set(names.values())) == len(names)


def test_keys_of_the_wrong_type_are_replaced_not_fatal(backend: RedisBackend) -> None:
    client = backend.client
    names = keys_of("planted")
    for name in ("rate", "book", "slots", "wait"):
        client.set(names[name], "not what it should be")
    client.hset(names["lim"], "x", "y")
    assert backend.take_rate("planted", "h", 1, 60.0) == 0.0
    assert backend.acquire_slot("planted", "h", 1, 60.0) == 0.0
    assert backend.extend_slot("planted", "h", 60.0) is True
    assert backend.release_slot("planted", "h") is True


def test_absurd_times_count_as_absent(backend: RedisBackend) -> None:
    client = backend.client
    names = keys_of("absurd")
    client.hset(names["rate"], mapping={"tat": "1e300", "count": "1", "per": "1"})
    client.zadd(names["slots"], {"ghost": float("inf")})
    client.zadd(names["book"], {"h": 1e300})
    assert backend.limit_states() == [], "nothing planted is listed"
    assert backend.take_rate("absurd", "h", 1, 60.0) == 0.0, "a time a day or more ahead is not believed"
    assert backend.acquire_slot("absurd", "me", 1, 60.0) == 0.0, "a lease that never ends is planted"
    client.hset(names["rate"], "tat", "soon")
    assert backend.take_rate("absurd", "other", 1, 60.0) == 0.0, "a time that is no number counts as absent"


def test_the_listing_skips_what_it_cannot_read(backend: RedisBackend) -> None:
    client = backend.client
    backend.take_rate("good", "h", 2, 60.0)
    far = backend.now() + 3600
    client.zadd(
        INDEX_KEY,
        {
            "topic:x": far,
            "rate:": far,
            "rate:" + "k" * 300: far,
            "rate:missing": far,
            "concurrency:nolimit": far,
            "nocolon": far,
        },
    )
    client.zadd(keys_of("nolimit")["slots"], {"h": far})
    client.set(keys_of("nolimit")["lim"], "lots")
    assert backend.limit_states() == [LimitState("rate", "good", "2/m", 1, 0)]
