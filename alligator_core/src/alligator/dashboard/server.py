"""Starting the dashboard: where it listens, who may come in."""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from alligator.dashboard.sampler import INTERVAL
from alligator.registry import extra_hint
from alligator.text import redact_dsn

log = logging.getLogger("alligator.dashboard")

#: The environment variable holding the dashboard's password (or token).
TOKEN_ENV = "ALLIGATOR_DASHBOARD_TOKEN"
#: Where the dashboard listens unless told otherwise.
DEFAULT_BIND = "127.0.0.1:8765"
#: Shortest password accepted when the dashboard listens beyond loopback.
MIN_PASSWORD = 12

MISSING_EXTRA = f"the dashboard needs its extra: {extra_hint('dashboard')}"


class BindRefused(ValueError):
    """The dashboard will not listen there (the message says why and what to do)."""


def parse_bind(bind: str) -> tuple[str, int]:
    """Splits ``HOST:PORT`` (``[::1]:8765`` for IPv6).

    Example:
        >>> parse_bind("127.0.0.1:8765"), parse_bind("[::1]:0")
        (('127.0.0.1', 8765), ('::1', 0))

    Raises:
        BindRefused: Not ``HOST:PORT``.
    """
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise BindRefused(f"--bind must be HOST:PORT (e.g. {DEFAULT_BIND}), not {bind!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_bind(bind: str, password: str | None) -> tuple[str, int, bool]:
    """Decides whether the dashboard may listen at ``bind`` with this password.

    Example:
        >>> check_bind("127.0.0.1:8765", None)
        ('127.0.0.1', 8765, True)
        >>> check_bind("0.0.0.0:8765", None)
        Traceback (most recent call last):
        ...
        alligator.dashboard.server.BindRefused: refusing to listen on 0.0.0.0:8765 without a password: ...

    Returns:
        ``(host, port, loopback)``.

    Raises:
        BindRefused: A non-loopback address without a password (or with one
            shorter than :data:`MIN_PASSWORD`), or a malformed ``bind``.
    """
    host, port = parse_bind(bind)
    loopback = is_loopback(host)
    if not loopback:
        if not password:
            raise BindRefused(
                f"refusing to listen on {bind} without a password: anyone who can reach it could "
                f"requeue and delete tasks. Set {TOKEN_ENV} (or give --password), or bind to "
                f"{DEFAULT_BIND}."
            )
        if len(password) < MIN_PASSWORD:
            raise BindRefused(
                f"refusing to listen on {bind} with a password of {len(password)} characters: "
                f"use at least {MIN_PASSWORD} "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
            )
    return host, port, loopback


def serve(
    dsn: str, bind: str = DEFAULT_BIND, password: str | None = None, *, sample_seconds: float = INTERVAL
) -> int:
    """Serves the dashboard of the store ``dsn`` until SIGINT or SIGTERM.

    Args:
        dsn: The queue store.
        bind: ``HOST:PORT`` to listen on; loopback by default. Any other
            address needs a password.
        password: The password (login form) and token (``Authorization:
            Bearer``); by default :data:`TOKEN_ENV` from the environment.
        sample_seconds: Seconds between the samples the overview's charts
            draw (an hour of them is kept).

    Returns:
        The exit status: 0 after a clean stop, 2 when it refuses to start
        (the reason is printed on stderr).
    """
    if password is None:
        password = os.environ.get(TOKEN_ENV) or None
    try:
        host, port, loopback = check_bind(bind, password)
    except BindRefused as err:
        print(f"alligator dashboard: error: {err}", file=sys.stderr)
        return 2
    try:
        waitress: Any = importlib.import_module("waitress")
        from alligator.dashboard.data import Store
        from alligator.dashboard.sampler import Sampler
        from alligator.dashboard.web import create_app
    except ImportError:
        print(f"alligator dashboard: error: {MISSING_EXTRA}", file=sys.stderr)
        return 2
    try:
        store = Store(dsn)
        sampler = Sampler(store, interval=sample_seconds, keep=max(1, int(3600 / sample_seconds)))
        app = create_app(store, password=password, loopback_only=loopback, sampler=sampler)
        sampler.start()
    except Exception as err:
        print(f"alligator dashboard: error: cannot open {redact_dsn(dsn)}: {err}", file=sys.stderr)
        return 2
    try:
        server = waitress.create_server(app, host=host, port=port, threads=8, ident="alligator-dashboard")
    except OSError as err:
        print(f"alligator dashboard: error: cannot listen on {bind}: {err}", file=sys.stderr)
        return 2
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{server.effective_port}/"
    access = (
        f"password required (login form; scrapers: Authorization: Bearer ${TOKEN_ENV})"
        if password
        else "no password: loopback only"
    )
    print(f"alligator dashboard of {store.describe()} on {url} ({access})", file=sys.stderr, flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # waitress's loop closes its sockets on it

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sampler.stop()
        store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alligator.dashboard DSN [--bind HOST:PORT] [--password PW]``."""
    parser = argparse.ArgumentParser(prog="alligator dashboard", description="Serve the web dashboard.")
    parser.add_argument("dsn", nargs="?", default=os.environ.get("ALLIGATOR_DSN"), help="the queue store")
    parser.add_argument("--bind", default=DEFAULT_BIND, help="HOST:PORT to listen on (default: %(default)s)")
    parser.add_argument(
        "--password",
        default=None,
        help=f"require this password (better: set {TOKEN_ENV}, which ps cannot show)",
    )
    parser.add_argument(
        "--sample-seconds",
        type=float,
        default=INTERVAL,
        help="seconds between the samples of the overview's charts (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 0.1 <= args.sample_seconds <= 3600:
        parser.error("--sample-seconds must be between 0.1 and 3600")
    if not args.dsn:
        parser.error("give the DSN (or set ALLIGATOR_DSN)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return serve(args.dsn, args.bind, args.password, sample_seconds=args.sample_seconds)
