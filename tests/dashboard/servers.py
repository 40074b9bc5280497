"""A real dashboard process for the tests: started on a free loopback port, stopped after."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alligator.dashboard import TOKEN_ENV

HERE = Path(__file__).resolve().parent
#: Generous: two cores shared by many processes.
WAIT = 60


@contextmanager
def running_dashboard(dsn: str, token: str | None = None, sample_seconds: float = 1.0) -> Iterator[str]:
    """Starts ``python -m alligator.dashboard DSN`` and yields its URL (``http://127.0.0.1:PORT/``)."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token:
        env[TOKEN_ENV] = token
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    args = [sys.executable, "-m", "alligator.dashboard", dsn, "--bind", "127.0.0.1:0"]
    args += ["--sample-seconds", str(sample_seconds)]
    process = subprocess.Popen(
        args, cwd=HERE, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r" on (http://127\.0\.0\.1:\d+/)", line)
        assert found, f"the dashboard did not start: {line}"
        yield found.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands a redirect back as the response, so a test reads its Location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """A browser-like HTTP client: its own cookie jar, redirects not followed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def request(
        self, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        """GET (or POST ``form``) a path; returns status, headers and body."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.url + path.lstrip("/"), data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=WAIT) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()

    def csrf(self, path: str = "login") -> str:
        """The CSRF token of a page's form (the session cookie comes with it)."""
        _, _, body = self.request(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', body)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, password: str, next_path: str = "/") -> tuple[int, dict[str, str], str]:
        """Posts the login form."""
        token = self.csrf()
        return self.request("login", {"csrf_token": token, "password": password, "next": next_path})
