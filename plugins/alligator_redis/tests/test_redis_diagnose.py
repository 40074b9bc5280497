"""``diagnose()`` against private servers started with the settings it checks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from redis_servers import RedisServer, free_port

from alligator.exceptions import BackendError
from alligator_redis import RedisBackend

fakeredis = pytest.importorskip("fakeredis")

pytestmark = pytest.mark.redis


def _findings(tmp_path: Path, *settings: str) -> list[tuple[str, str, str]]:
    with _server(tmp_path, *settings) as server:
        backend = RedisBackend(server.url(0))
        try:
            return backend.diagnose()
        finally:
            backend.close()


@contextmanager
def _server(tmp_path: Path, *settings: str) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed on PATH for the diagnose tests")
    server = RedisServer(tmp_path / "redis", *settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _errors(findings: list[tuple[str, str, str]]) -> list[str]:
    return [problem for level, problem, _ in findings if level == "error"]


def test_no_persistence_is_an_error(tmp_path: Path) -> None:
    findings = _findings(tmp_path, "--save", "", "--appendonly", "no")
    [error] = _errors(findings)
    assert "a restart loses every queued task" in error
    [todo] = [what for level, _, what in findings if level == "error"]
    assert "appendonly yes" in todo


def test_an_evicting_policy_is_an_error(tmp_path: Path) -> None:
    findings = _findings(tmp_path, "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru")
    [error] = _errors(findings)
    assert error == "Redis: maxmemory-policy is allkeys-lru: eviction silently drops tasks"


def test_a_policy_evicting_only_keys_with_an_expiry_is_a_warning(tmp_path: Path) -> None:
    findings = _findings(tmp_path, "--appendonly", "yes", "--maxmemory-policy", "volatile-lru")
    assert _errors(findings) == []
    [warning] = [problem for level, problem, _ in findings if level == "warning"]
    assert "maxmemory-policy is volatile-lru" in warning and "queued tasks are kept" in warning


def test_a_healthy_server_has_no_error(tmp_path: Path) -> None:
    findings = _findings(tmp_path, "--appendonly", "yes")
    assert _errors(findings) == []
    assert {level for level, _, _ in findings} == {"ok"}
    problems = [problem for _, problem, _ in findings]
    assert any("AOF is on" in problem for problem in problems)
    assert "Redis: accepts a write (probe key written and deleted)" in problems
    assert any(problem.startswith("Redis: memory: ") for problem in problems)


def _fill(client: redis.Redis, until: float) -> None:
    """Writes 4 KiB values until used_memory reaches ``until`` of maxmemory."""
    limit = int(str(client.config_get("maxmemory")["maxmemory"]))
    n = 0
    while int(client.info("memory")["used_memory"]) < until * limit:
        client.set(f"filler:{n}", "x" * 4096)
        n += 1


def test_memory_near_maxmemory_is_a_warning_then_an_error(tmp_path: Path) -> None:
    """The drill: Redis at 2.99 MB of a 3 MB maxmemory said only 'maxmemory-policy is noeviction'."""
    with _server(tmp_path, "--appendonly", "yes", "--maxmemory", "4mb") as server:
        client = redis.Redis(port=server.port)
        backend = RedisBackend(server.url(0))
        try:
            _fill(client, 0.85)
            [memory] = [f for f in backend.diagnose() if "memory is" in f[1]]
            assert memory[0] == "warning", memory
            assert memory[1].startswith("Redis: memory is 8") and "of maxmemory 4.0 MiB" in memory[1]
            # Well under what is used: every write is refused (OOM), whatever
            # Redis frees meanwhile.
            client.config_set("maxmemory", int(client.info("memory")["used_memory"]) // 2)
            findings = backend.diagnose()
        finally:
            backend.close()
            client.close()
    errors = _errors(findings)
    assert any(e.startswith("Redis: memory is ") and "Redis refuses every new task" in e for e in errors)
    [refused] = [f for f in findings if "refuses writes" in f[1]]
    assert refused[0] == "error" and "OOM" in refused[1]
    assert "raise maxmemory" in refused[2]


def test_a_server_that_refuses_writes_is_an_error(tmp_path: Path) -> None:
    """min-replicas-to-write with no replica: every write is refused (NOREPLICAS), reads work."""
    findings = _findings(tmp_path, "--appendonly", "yes", "--min-replicas-to-write", "1")
    [error] = _errors(findings)
    assert error.startswith("Redis: refuses writes (NOREPLICAS")
    assert error.endswith("every enqueue, reservation and heartbeat fails")


def test_task_loss_risks(tmp_path: Path) -> None:
    for settings, expected in [
        (("--appendonly", "yes"), []),
        (("--appendonly", "no"), ["no-persistence"]),
        (("--appendonly", "yes", "--maxmemory-policy", "allkeys-lfu"), ["eviction"]),
        (("--appendonly", "no", "--maxmemory-policy", "allkeys-random"), ["eviction", "no-persistence"]),
        (("--appendonly", "yes", "--maxmemory-policy", "volatile-ttl"), []),
    ]:
        with _server(tmp_path / str(len(settings)) / settings[-1], *settings) as server:
            backend = RedisBackend(server.url(0))
            try:
                risks = backend.task_loss_risks()
            finally:
                backend.close()
        assert [kind for kind, _ in risks] == expected, settings
        assert all(problem.startswith("Redis: ") for _, problem in risks)


def test_rdb_snapshots_alone_are_not_an_error(tmp_path: Path) -> None:
    findings = _findings(tmp_path, "--save", "60 1000", "--appendonly", "no")
    assert _errors(findings) == []
    assert any("RDB snapshots only" in problem for _, problem, _ in findings)


def test_config_refused_falls_back_to_info(tmp_path: Path) -> None:
    """Managed Redis and ACLs refuse CONFIG: INFO alone says what it can."""
    server = RedisServer(tmp_path / "redis", "--appendonly", "no")
    server.start()
    try:
        admin = redis.Redis(port=server.port)
        admin.execute_command("ACL", "SETUSER", "doctor", "on", ">secret", "+@all", "-config", "~*", "&*")
        admin.close()
        backend = RedisBackend(f"redis://doctor:secret@127.0.0.1:{server.port}/0")
        findings = backend.diagnose()
        backend.close()
    finally:
        server.stop()
    [warning] = [problem for level, problem, _ in findings if level == "warning"]
    assert "CONFIG GET save is refused" in warning
    assert _errors(findings) == []


def test_a_server_refusing_info_gives_a_warning() -> None:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    findings = RedisBackend.from_client(client, "redis://fakeredis").diagnose()
    [(level, problem, _), write] = findings
    assert level == "warning" and "cannot read INFO" in problem
    assert write[0] == "ok" and "accepts a write" in write[1]
    assert client.keys("*") == [], "the probe key is deleted"


def test_an_unreachable_server_raises() -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=1")
    with pytest.raises(BackendError):
        backend.diagnose()
