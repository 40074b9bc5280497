"""The Redis backend passes the contract kit, against fakeredis and a real server."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis_raw import PlantedRecords, RedisFixtures

from alligator.backend import Backend
from alligator.testing import BackendContract, PauseContract, run_backend_state_machine
from alligator_redis import RedisBackend

# The cluster session installs no fakeredis; it runs only the cluster tests.
fakeredis = pytest.importorskip("fakeredis")


class TestFakeRedisContract(PlantedRecords, RedisFixtures, BackendContract, PauseContract):
    # The fake server lives in this process.
    shares_store_across_processes = False

    @pytest.fixture
    def server(self) -> Any:
        return fakeredis.FakeServer()

    @pytest.fixture
    def backend_factory(self, server: Any) -> Callable[[], RedisBackend]:
        def another_client() -> RedisBackend:
            client = fakeredis.FakeRedis(server=server, decode_responses=True)
            return RedisBackend.from_client(client, "redis://fakeredis")

        return another_client

    @pytest.fixture
    def backend(self, backend_factory: Callable[[], RedisBackend]) -> Iterator[RedisBackend]:
        backend = backend_factory()
        yield backend
        backend.close()

    #: Examples of the short form: fakeredis runs the Lua scripts about three
    #: times slower than Redis, and the real server (below) gets the kit's
    #: default run; the soak session runs the default here too.
    SHORT_EXAMPLES = 15

    def test_matches_the_model(self, backend: Backend) -> None:
        """The kit's state machine, in a short form (the full one is ``..._in_full``, a soak test)."""
        run_backend_state_machine(backend, max_examples=self.SHORT_EXAMPLES)

    @pytest.mark.soak
    def test_matches_the_model_in_full(self, backend: Backend) -> None:
        """The kit's run of the state machine on fakeredis, as long as its profile says (``nox -s soak``)."""
        run_backend_state_machine(backend)


@pytest.mark.redis
class TestRedisContract(PlantedRecords, RedisFixtures, BackendContract, PauseContract):
    @pytest.fixture
    def backend(self, redis_url: str) -> Iterator[RedisBackend]:
        backend = RedisBackend(redis_url)
        yield backend
        backend.close()

    @pytest.fixture
    def backend_factory(self, redis_url: str) -> Callable[[], RedisBackend]:
        return functools.partial(RedisBackend, redis_url)
