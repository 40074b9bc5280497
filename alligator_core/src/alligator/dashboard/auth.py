"""Who may come in: login throttling, server-side sessions, safe redirects.

No web framework here, only the rules, so each is small and tested alone:

- :class:`Throttle` counts wrong passwords (and wrong tokens) per client
  address and overall; past a limit it answers "wait N seconds" at once,
  without holding a server thread (a ``sleep`` per wrong password let a
  flood of them take every thread);
- :class:`Sessions` keeps the id of every logged-in session on the server,
  so logging out revokes the session even in a copied cookie, and every
  session ends after :data:`SESSION_SECONDS`;
- :func:`safe_target` decides where a login may send the browser: a path
  of this dashboard, checked in the form the ``Location`` header carries.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

#: Wrong passwords from one client address within :data:`WINDOW_SECONDS` that lock it out.
FAILURES_PER_ADDRESS = 10
#: Wrong passwords from all addresses within :data:`WINDOW_SECONDS` that lock every login out.
FAILURES_OVERALL = 100
#: The window the failures are counted in, in seconds.
WINDOW_SECONDS = 60.0
#: How long a lockout lasts, in seconds.
LOCKOUT_SECONDS = 60.0
#: Most client addresses whose failures are remembered (the oldest are forgotten first).
MAX_ADDRESSES = 10_000
#: How long a logged-in session lasts, in seconds (12 hours), however active.
SESSION_SECONDS = 12 * 3600.0
#: Most sessions kept at once (the oldest end first).
MAX_SESSIONS = 10_000


class _Counter:
    """Failures within a window, and the end of a lockout."""

    __slots__ = ("failures", "locked_until")

    def __init__(self) -> None:
        self.failures: deque[float] = deque()
        self.locked_until = 0.0

    def fail(self, now: float, limit: int, window: float, lockout: float) -> None:
        while self.failures and self.failures[0] <= now - window:
            self.failures.popleft()
        self.failures.append(now)
        if len(self.failures) >= limit:
            self.locked_until = now + lockout
            self.failures.clear()


class Throttle:
    """Locks out a client address (or everyone) after too many wrong passwords.

    Example:
        >>> throttle = Throttle(per_address=2, overall=100, clock=lambda: 0.0)
        >>> throttle.retry_after("192.0.2.1")
        0
        >>> throttle.failed("192.0.2.1"); throttle.failed("192.0.2.1")
        >>> throttle.retry_after("192.0.2.1"), throttle.retry_after("192.0.2.2")
        (60, 0)

    Args:
        per_address: Failures from one address, within ``window``, that lock it out.
        overall: Failures from all addresses, within ``window``, that lock every address out.
        window: Seconds the failures are counted in.
        lockout: Seconds a lockout lasts.
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        per_address: int = FAILURES_PER_ADDRESS,
        overall: int = FAILURES_OVERALL,
        window: float = WINDOW_SECONDS,
        lockout: float = LOCKOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address, self.overall = per_address, overall
        self.window, self.lockout = window, lockout
        self._clock = clock
        self._addresses: dict[str, _Counter] = {}
        self._all = _Counter()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds (rounded up) before ``address`` may try a password again; 0 when it may now."""
        now = self._clock()
        with self._lock:
            counter = self._addresses.get(address)
            until = max(self._all.locked_until, counter.locked_until if counter else 0.0)
        return max(0, int(-(-(until - now) // 1)))

    def failed(self, address: str) -> None:
        """Counts one wrong password (or token) from ``address``."""
        now = self._clock()
        with self._lock:
            counter = self._addresses.pop(address, None) or _Counter()
            self._addresses[address] = counter  # the newest last: the oldest are dropped first
            while len(self._addresses) > MAX_ADDRESSES:
                del self._addresses[next(iter(self._addresses))]
            counter.fail(now, self.per_address, self.window, self.lockout)
            self._all.fail(now, self.overall, self.window, self.lockout)

    def succeeded(self, address: str) -> None:
        """Forgets the failures of ``address`` (a right password ends its count)."""
        with self._lock:
            counter = self._addresses.get(address)
            if counter is not None and counter.locked_until <= self._clock():
                del self._addresses[address]


class Sessions:
    """The logged-in sessions, kept on the server: a cookie is only as good as its id here.

    Example:
        >>> sessions = Sessions(lifetime=60, clock=lambda: 0.0)
        >>> sid = sessions.start()
        >>> sessions.valid(sid), sessions.valid("forged")
        (True, False)
        >>> sessions.end(sid); sessions.valid(sid)
        False

    Args:
        lifetime: Seconds a session lasts from its login.
        clock: Monotonic seconds.
    """

    def __init__(
        self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._ends: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        """Starts a session; returns its id (random, for the signed cookie)."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            for old in [sid for sid, end in self._ends.items() if end <= now]:
                del self._ends[old]
            while len(self._ends) >= MAX_SESSIONS:
                del self._ends[next(iter(self._ends))]
            self._ends[session_id] = now + self.lifetime
        return session_id

    def valid(self, session_id: object) -> bool:
        """Whether a cookie's session id is one of a session that has neither ended nor expired."""
        if not isinstance(session_id, str):
            return False
        with self._lock:
            end = self._ends.get(session_id)
        return end is not None and self._clock() < end

    def end(self, session_id: object) -> None:
        """Ends a session (logout): its id, in any copy of the cookie, lets no one in any more."""
        if isinstance(session_id, str):
            with self._lock:
                self._ends.pop(session_id, None)


def safe_target(target: str) -> str:
    """Where a login may send the browser: ``target`` if it is a path of this site, else ``/``.

    Checked in the form the ``Location`` header carries (non-ASCII
    percent-encoded, as the server sends it), and refused at the first doubt:
    any control character or whitespace (browsers drop tabs and newlines, so
    ``/<TAB>/evil.example`` becomes ``//evil.example``), any backslash (read
    as ``/``), a scheme, a host, or a start other than one ``/``.

    So ``/queue?name=emails`` is kept, while ``/<TAB>/evil.example`` and
    ``//evil`` become ``/`` (tests/dashboard/test_login.py tries twenty such
    bypasses: the check needs werkzeug, the dashboard's own dependency, so it
    has no example here for the core's doctests, which run without it).
    """
    from werkzeug.urls import iri_to_uri

    if (
        not target.isprintable()
        or any(char.isspace() for char in target)
        or target.startswith("//")
        or "\\" in target
    ):
        return "/"
    try:
        sent = iri_to_uri(target)
        parts = urlsplit(sent)
    except ValueError:
        return "/"
    if (
        "\\" in sent
        or not sent.startswith("/")
        or sent.startswith("//")
        or parts.scheme
        or parts.netloc
        or not sent.isascii()
    ):
        return "/"
    return sent
