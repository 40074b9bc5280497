"""Fixtures of the reliability tests: real worker processes, real servers, a ledger.

* ``reliability_tasks`` (the task functions) is importable here (``pytest.ini``
  puts this folder on the path) and, through PYTHONPATH, in every worker
  process; workers allow only that module (``ALLIGATOR_ALLOW=reliability_tasks``).
* What the tests import besides fixtures lives in ``reliability_helpers``.
* PostgreSQL: a database of the session's own on the machine's server
  (``postgres_servers``, beside the PostgreSQL plugin's tests), for the
  SIGKILL soak.
* Redis: 127.0.0.1:6379 db 11 if it answers, otherwise a private
  ``redis-server`` on a free port. Without either the Redis tests skip,
  except under ``CI=true``, where they fail. Each test uses its own queue
  name and drops only that queue, so other people's data in the db is safe.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import postgres_servers
import pytest
from redis_servers import RedisServer, answers
from reliability_helpers import (
    REDIS_DB,
    SHARED_REDIS,
    WORKER_PACKAGES,
    Store,
    Workers,
    make_store,
    no_service,
)
from reliability_tasks import Ledger


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis db for the tests: the shared server's db 11, or a private server."""
    if answers(SHARED_REDIS):
        try:
            yield SHARED_REDIS
        finally:
            # Workers these proofs kill leave their live-worker records
            # behind (they expire, but the keys would outlive the session).
            import redis

            from alligator_redis.keys import WORKER_KEYS

            client = redis.Redis.from_url(SHARED_REDIS)
            client.delete(*WORKER_KEYS.values())
            client.close()
        return
    if shutil.which("redis-server") is None:
        no_service("no Redis on 127.0.0.1:6379 and no redis-server on PATH")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url(REDIS_DB)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this session's own on the machine's PostgreSQL, dropped at the end."""
    if not postgres_servers.answers():
        no_service(f"no PostgreSQL answers at {postgres_servers.SERVER_URL}")
    dsn = postgres_servers.create_database(prefix="alligator_reliability")
    try:
        yield dsn
    finally:
        postgres_servers.drop_database(dsn)


@pytest.fixture(scope="session")
def precompiled() -> None:
    """Writes the bytecode of what the worker imports, as pip does when it installs.

    The nox environments are made by uv, which writes none, and the workers
    run with PYTHONDONTWRITEBYTECODE: each would compile redis-py at start.
    That lifts a worker's peak RSS from ~31 to ~48 MiB, and on a loaded
    machine makes every new worker take seconds to start. A deployment pays
    neither, so the proofs that measure memory or restart workers all the
    time run workers as deployed (as ``bench/run.py`` does).
    """
    import compileall
    import importlib.util

    for name in WORKER_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None and spec.origin.endswith("__init__.py"):
            compileall.compile_dir(str(Path(spec.origin).parent), quiet=1, workers=0)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The queue store of a test that runs against both backends."""
    yield from make_store(request.param, tmp_path, request)


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def soak_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The queue store of the SIGKILL soak, which runs against every backend that shares a store."""
    yield from make_store(request.param, tmp_path, request)


@pytest.fixture
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store("sqlite", tmp_path, request)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(str(tmp_path / "ledger.txt"))


@pytest.fixture
def workers(tmp_path: Path, ledger: Ledger) -> Iterator[Callable[..., Workers]]:
    """Builds worker pools; every process they started is gone when the test ends."""
    pools: list[Workers] = []

    def make(store: Store, *args: str, **kwargs: object) -> Workers:
        logdir = tmp_path / f"logs-{len(pools)}"
        logdir.mkdir()
        pool = Workers(store, ledger, logdir, args, **kwargs)  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.kill_all()
