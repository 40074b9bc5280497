"""``diagnose()`` against private servers started with the settings it checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

from alligator.exceptions import BackendError
from alligator_redis import RedisBackend
from alligator_redis.servers import RedisServer, free_port

fakeredis = pytest.importorskip("fakeredis")

pytestmark = pytest.mark.redis


def _findings(tmp_path: Path, *settings: str) -> list[tuple[str, str, str]]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed on PATH for the diagnose tests")
    server = RedisServer(tmp_path / "redis", *settings)
    server.start()
    try:
        backend = RedisBackend(server.url(0))
        try:
            return backend.diagnose()
        finally:
            backend.close()
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


def test_a_healthy_server_has_no_error(tmp_path: Path) -> None:
    findings = _findings(tmp_path, "--appendonly", "yes")
    assert _errors(findings) == []
    assert {level for level, _, _ in findings} == {"ok"}
    assert any("AOF is on" in problem for _, problem, _ in findings)


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
    [(level, problem, _)] = findings
    assert level == "warning" and "cannot read INFO" in problem


def test_an_unreachable_server_raises() -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=1")
    with pytest.raises(BackendError):
        backend.diagnose()
