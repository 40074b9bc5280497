"""Logging in to a real dashboard process: redirects, wrong-password floods, logout (issue 18).

- Finding 2: ``/login?next=/%09/evil.example/phish`` sent the browser to
  ``//evil.example/phish`` (the tab passed the check and was dropped when the
  URL was split). The URL actually sent is checked now.
- Finding 6: each wrong password held one of the server's 8 threads for half
  a second, so a flood starved every page. Failures are counted instead, and
  answered at once with 429 and Retry-After past a limit.
- Finding 7: logging out left a copied session cookie valid until the
  dashboard restarted. Sessions are kept on the server now, and end.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import WAIT, Client, running_dashboard

from alligator import Gator
from alligator.dashboard.auth import FAILURES_PER_ADDRESS, Sessions, Throttle, safe_target

PASSWORD = "a password for the login tests"

#: Ways to smuggle another site past a "starts with one slash" check.
BYPASSES = [
    "/\t/evil.example/phish",
    "/\n/evil.example/phish",
    "/\r\n/evil.example/phish",
    "\t//evil.example/",
    " //evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\\/evil.example/",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/%09/evil.example/",  # reaches the view decoded once: the tab itself
    "%2F%2Fevil.example/",
    "/\u3000/evil.example/",
    "/\x00/evil.example/",
    "http:/\\evil.example",
    "",
]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    Gator(dsn, queue_name="emails", allow=["builtins"]).task(abs, -1)
    with running_dashboard(dsn, token=PASSWORD) as found:
        yield found


def sent_somewhere_else(location: str, base: str) -> bool:
    """Whether a browser following ``location`` from ``base`` leaves the dashboard's origin."""
    # What browsers do first: drop tabs and newlines, strip spaces and controls at the ends.
    cleaned = "".join(c for c in location if c not in "\t\n\r").strip("\x00\x1f ").replace("\\", "/")
    target = urllib.parse.urlsplit(urllib.parse.urljoin(base, cleaned))
    return (target.scheme, target.netloc) != tuple(urllib.parse.urlsplit(base)[:2])


def test_safe_target_refuses_every_known_bypass() -> None:
    for target in BYPASSES:
        sent = safe_target(target)
        assert sent.startswith("/") and not sent.startswith("//"), (target, sent)
        assert not sent_somewhere_else(sent, "http://127.0.0.1:8765/"), (target, sent)
    assert safe_target("/\t/evil.example/phish") == "/"  # the case: refused, not repaired
    assert safe_target("/queue?name=emails&state=delayed") == "/queue?name=emails&state=delayed"
    assert safe_target("/task?queue=caf%C3%A9&id=1") == "/task?queue=caf%C3%A9&id=1"
    assert safe_target("/queue?name=café") == "/queue?name=caf%C3%A9"  # as the Location header carries it


def test_after_login_the_browser_is_sent_only_to_a_path_of_the_dashboard(url: str) -> None:
    for target in BYPASSES:
        status, headers, _ = Client(url).login(PASSWORD, target)
        assert status == 303, target
        location = headers["Location"]
        assert not sent_somewhere_else(location, url), f"{target!r} sent the browser to {location!r}"
    # The query string form the issue gave, as a browser sends it.
    client = Client(url)
    client.csrf()
    status, headers, body = client.request("login?next=/%09/evil.example/phish")
    assert 'value="/"' in body and "evil.example" not in body
    status, headers, _ = client.login(PASSWORD, "/dead?queue=emails")
    assert headers["Location"] in ("/dead?queue=emails", url + "dead?queue=emails")


def test_a_wrong_password_flood_is_locked_out_and_the_dashboard_keeps_answering(url: str) -> None:
    operator = Client(url)
    assert operator.login(PASSWORD)[0] == 303  # logged in before the flood
    stop = threading.Event()
    answers: list[int] = []
    lock = threading.Lock()

    def flood() -> None:
        client = Client(url)
        form = {"csrf_token": client.csrf(), "password": "guess", "next": "/"}
        while not stop.is_set():
            status, headers, _ = client.request("login", form)
            if status == 429:
                assert int(headers["Retry-After"]) > 0
            with lock:
                answers.append(status)

    threads = [threading.Thread(target=flood) for _ in range(16)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with lock:
                if answers.count(429) >= 50:
                    break
            time.sleep(0.1)
        # While the flood runs, the operator's pages are answered (a generous deadline: the machine is busy).
        for path in ("", "partials/overview", "dead?queue=emails"):
            status, _, body = operator.request(path)
            assert status == 200, body[:300]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
    assert answers.count(429) >= 50, f"{answers.count(429)} of {len(answers)} answers were 429"
    assert answers.count(200) <= FAILURES_PER_ADDRESS  # the wrong passwords checked before the lockout
    # The right password from the locked-out address waits too, its check not even made.
    status, headers, body = Client(url).login(PASSWORD)
    assert status == 429 and "try again in" in body and int(headers["Retry-After"]) > 0
    # Wrong tokens count the same way.
    status, _, _ = Client(url).request("metrics", headers={"Authorization": f"Bearer {PASSWORD}"})
    assert status == 429


def test_logging_out_revokes_a_copied_session_cookie(url: str) -> None:
    client = Client(url)
    assert client.login(PASSWORD)[0] == 303
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    copy = Client(url)
    assert copy.request("", headers={"Cookie": cookie})[0] == 200  # the copy works while logged in
    token = client.csrf("")
    assert client.request("logout", {"csrf_token": token})[0] == 303
    status, headers, _ = copy.request("", headers={"Cookie": cookie})
    assert status == 302 and "/login" in headers["Location"]
    assert copy.request("partials/overview", headers={"Cookie": cookie})[0] == 401


def test_sessions_end_after_their_lifetime() -> None:
    now = [1000.0]
    sessions = Sessions(lifetime=3600, clock=lambda: now[0])
    session_id = sessions.start()
    now[0] += 3599
    assert sessions.valid(session_id)
    now[0] += 2
    assert not sessions.valid(session_id)
    assert not sessions.valid(None) and not sessions.valid(uuid.uuid4().hex)


def test_the_throttle_locks_one_address_then_everyone_and_lets_go() -> None:
    now = [0.0]
    throttle = Throttle(per_address=3, overall=5, window=60, lockout=30, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 30 and throttle.retry_after("192.0.2.2") == 0
    throttle.failed("192.0.2.2")
    throttle.failed("192.0.2.3")  # the fifth failure overall: a flood from many addresses
    assert throttle.retry_after("198.51.100.9") == 30
    now[0] += 31
    assert throttle.retry_after("192.0.2.1") == 0 and throttle.retry_after("198.51.100.9") == 0
