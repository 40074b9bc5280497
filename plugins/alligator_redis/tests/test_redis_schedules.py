"""Redis's schedule records: records and index members a hostile writer planted are skipped, never sent."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
from redis_servers import RedisServer

from alligator_redis import RedisBackend
from alligator_redis.keys import SCHEDULE_QUEUES_KEY, schedules_key


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    if request.param == "fakeredis":
        made = RedisBackend.from_client(fakeredis.FakeRedis(decode_responses=True))
        yield made
        made.close()
        return
    # A server of the test's own: the index of queues with schedules is one key per db.
    server: RedisServer = request.getfixturevalue("private_redis")
    made = RedisBackend(server.url(0))
    yield made
    made.close()


def test_planted_records_are_skipped_and_a_bad_tick_counts_as_none(backend: RedisBackend) -> None:
    client = backend.client
    key = schedules_key("q")
    client.sadd(SCHEDULE_QUEUES_KEY, "q", "never-used")
    client.execute_command("SADD", SCHEDULE_QUEUES_KEY, b"\xff\xfe")
    client.hset(key, mapping={"t:text-tick": "soon", "a:text-tick": "{}"})
    client.hset(key, mapping={"t:no-about": "1"})
    client.hset(key, mapping={"t:long-about": "1", "a:long-about": "x" * 100_000})
    client.execute_command("HSET", key, b"t:\xff", "1", b"a:\xff", "{}")
    client.hset(key, mapping={"t:fine": "5", "a:fine": "{}"})
    assert [record.name for record in backend.schedule_records()] == ["fine"]
    assert backend.push_tick("q", "text-tick", 1.0, "schedule:text-tick:1", "{}", "{}") is True, (
        "a recorded tick that is no number counts as no record"
    )
    assert backend.push_tick("q", "fine", 5.0, "schedule:fine:5", "{}", "{}") is False
    backend.drop_all("q")
    assert backend.schedule_records() == []
