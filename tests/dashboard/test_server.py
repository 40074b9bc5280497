"""Starting the dashboard: where it may listen, and what it says on start."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from alligator.dashboard import TOKEN_ENV, BindRefused, check_bind
from alligator.dashboard.server import parse_bind


def test_loopback_binds_need_no_password() -> None:
    assert check_bind("127.0.0.1:8765", None) == ("127.0.0.1", 8765, True)
    assert check_bind("localhost:0", None) == ("localhost", 0, True)
    assert check_bind("[::1]:8765", None) == ("::1", 8765, True)


@pytest.mark.parametrize("bind", ["0.0.0.0:8765", "[::]:8765", "192.0.2.7:80", "dash.example:8765"])
def test_other_binds_need_a_password(bind: str) -> None:
    with pytest.raises(BindRefused, match=TOKEN_ENV):
        check_bind(bind, None)
    with pytest.raises(BindRefused, match="at least 12"):
        check_bind(bind, "short")
    assert check_bind(bind, "a long enough password")[2] is False


@pytest.mark.parametrize("bind", ["8765", "host:", ":80", "host:port", "host:70000"])
def test_malformed_binds_are_refused(bind: str) -> None:
    with pytest.raises(BindRefused, match="HOST:PORT"):
        parse_bind(bind)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env.update(extra)
    return env


def test_a_non_loopback_bind_without_a_password_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    done = subprocess.run(
        [sys.executable, "-m", "alligator.dashboard", f"sqlite:///{db}", "--bind", "0.0.0.0:8765"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0:8765 without a password" in done.stderr
    assert TOKEN_ENV in done.stderr
    assert not db.exists()  # refused before the store was opened


def test_with_a_token_it_says_so_on_start_and_requires_it(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "alligator.dashboard", f"sqlite:///{db}", "--bind", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**{TOKEN_ENV: "a token for the tests"}),
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "password required" in line, line
        found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        assert found, line
        url = found.group(1)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "metrics", timeout=60)
        assert refused.value.code == 401
        request = urllib.request.Request(
            url + "metrics", headers={"Authorization": "Bearer a token for the tests"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
