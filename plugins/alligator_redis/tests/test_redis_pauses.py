"""Redis's pauses: one key, and members a hostile writer planted that are skipped, never sent."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
from redis_servers import RedisServer

from alligator_redis import RedisBackend
from alligator_redis.pauses import PAUSES_KEY

GOOD = [("function", "mod.tasks:fn"), ("queue", "emails")]
HOSTILE: list[str | bytes] = [
    "topic:x",
    "queue:",
    "queue:" + "x" * 300,
    b"queue:\xff\xfe",
    "function:nocolon",
    "a-member-before-every-kind",
    "queue:" + "y" * 1_000_000,
]


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    if request.param == "fakeredis":
        made = RedisBackend.from_client(fakeredis.FakeRedis(decode_responses=True))
        yield made
        made.close()
        return
    # A server of the test's own: the pauses are one key per db, shared by every queue.
    server: RedisServer = request.getfixturevalue("private_redis")
    made = RedisBackend(server.url(0))
    yield made
    made.close()


def test_hostile_members_are_skipped(backend: RedisBackend) -> None:
    for member in HOSTILE:
        backend.client.execute_command("ZADD", PAUSES_KEY, 0, member)
    for kind, name in GOOD:
        assert backend.set_paused(kind, name, True) is True
    assert backend.paused() == GOOD, "each hostile member is skipped, the others listed"


def test_every_pause_is_one_member_of_one_key(backend: RedisBackend) -> None:
    backend.set_paused("queue", "emails", True)
    backend.set_paused("function", "mod.tasks:fn", True)
    assert backend.client.zrange(PAUSES_KEY, 0, -1) == ["function:mod.tasks:fn", "queue:emails"]
    assert PAUSES_KEY == "alligator:{%paused}:pauses", "its own hash tag, which no queue's keys can have"
