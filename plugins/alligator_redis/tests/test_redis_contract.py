"""The Redis backend passes the contract kit, against fakeredis and a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_raw import PlantedRecords, RedisFixtures

from alligator.testing import BackendContract
from alligator_redis import RedisBackend

# The cluster session installs no fakeredis; it runs only the cluster tests.
fakeredis = pytest.importorskip("fakeredis")


class TestFakeRedisContract(PlantedRecords, RedisFixtures, BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[RedisBackend]:
        client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        backend = RedisBackend.from_client(client, "redis://fakeredis")
        yield backend
        backend.close()


@pytest.mark.redis
class TestRedisContract(PlantedRecords, RedisFixtures, BackendContract):
    @pytest.fixture
    def backend(self, redis_url: str) -> Iterator[RedisBackend]:
        backend = RedisBackend(redis_url)
        yield backend
        backend.close()
