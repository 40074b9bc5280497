"""The Redis backend's connection and the plumbing every part of it shares.

:class:`RedisBase` holds the client, the loaded scripts and each queue's key
names, runs a script (loading it again after a ``SCRIPT FLUSH``), and turns
Redis errors into :class:`~alligator.exceptions.BackendError`. The backend's
methods are written in mixins, one module per concern, over this base.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from redis.client import NEVER_DECODE
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from alligator.backend import (
    Backend,
)
from alligator.exceptions import BackendError, InvalidDSNError, PermanentBackendError
from alligator.text import redact_dsn
from alligator_redis import pauses, scripts
from alligator_redis.channels import SUBSCRIBE_DEADLINE, _confirmed
from alligator_redis.dsn import DEFAULT_OPTIONS, check_dsn, driver_options, scrub, secrets
from alligator_redis.errors import permanent_hint
from alligator_redis.held import HeldConnection
from alligator_redis.keys import queue_keys

#: The clients the backend drives.
Client = redis.Redis | RedisCluster

#: With an injected clock, a blocked reserve looks again this often (seconds),
#: because the fake clock may be moved while it waits.
FAKE_CLOCK_POLL = 0.05


class _Script:
    """A script of this backend: its name, and its SHA and source once it first runs."""

    __slots__ = ("_client", "_sha", "name", "script")

    def __init__(self, client: Client, script: scripts.Script) -> None:
        self._client = client
        self.script = script
        self.name = script.name
        self._sha: str | None = None

    @property
    def sha(self) -> str:
        """The SHA the server knows the script by; its file is read the first time."""
        sha = self._sha
        if sha is None:
            # register_script computes the SHA; we send EVALSHA ourselves to
            # keep the hot path to one execute_command call.
            sha = self._sha = self._client.register_script(self.script.source).sha
        return sha

    @property
    def source(self) -> str:
        """The Lua source, sent when the server lacks the script."""
        return self.script.source


class _KeysOf(dict[str, tuple[str, ...]]):
    """One queue's key names in each script's ``KEYS`` order, worked out when a script first runs."""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__()
        self.names = names

    def __missing__(self, name: str) -> tuple[str, ...]:
        found = self[name] = tuple(self.names[key] for key in scripts.BY_NAME[name].keys)
        return found


class _Keys:
    """The key names of one queue, in each script's order, computed once per queue."""

    __slots__ = ("all", "done", "of", "wake", "work")

    def __init__(self, queue: str) -> None:
        names = queue_keys(queue)
        self.wake = names["wake"]
        self.done = names["done"]
        self.work = names["work"]
        self.of = _KeysOf(names)
        self.all = tuple(names.values())


class _Translated:
    """Turns a :class:`redis.RedisError` raised inside it into a :class:`BackendError`.

    The message is formatted only when there is an error, so the hot path
    pays for no string it does not show.
    """

    __slots__ = ("args", "backend", "template")

    def __init__(self, backend: RedisBase, template: str, args: tuple[object, ...]) -> None:
        self.backend = backend
        self.template = template
        self.args = args

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: Any) -> None:
        if isinstance(err, RedisError):
            raise self.backend._error(self.template.format(*self.args), err) from err


class RedisBase(Backend):
    """The connection, scripts and key names every part of :class:`~alligator_redis.RedisBackend` uses.

    Args:
        conn_string: The DSN; see :class:`~alligator_redis.RedisBackend`.
        client: A ready client to use instead of connecting to the DSN.
    """

    blocking_reserve = True

    def __init__(
        self, conn_string: str = "redis://localhost:6379/0", *, client: Client | None = None
    ) -> None:
        super().__init__(conn_string)
        if client is None:
            client = self._connect(conn_string)
        elif not client.get_encoder().decode_responses:
            raise ValueError("the Redis client must be built with decode_responses=True")
        self.client: Client = client
        self._where = self.describe()
        self._secrets = secrets(conn_string)
        self._execute: Callable[..., Any] = client.execute_command
        self._keys: dict[str, _Keys] = {}
        self._push_packed: dict[str, bytes] = {}
        self._direct = _direct_capable(client)
        if self._direct:
            self._held = HeldConnection(client.connection_pool)  # type: ignore[union-attr]
        self._keys_lock = threading.Lock()
        loaded = {script.name: _Script(client, script) for script in scripts.SCRIPTS}
        self._push = loaded["push"]
        self._push_many = loaded["push_many"]
        self._push_prioritized = loaded["push_prioritized"]
        self._reserve = loaded["reserve"]
        self._ack = loaded["ack"]
        self._release = loaded["release"]
        self._extend = loaded["extend"]
        self._dead_letter = loaded["dead_letter"]
        self._get = loaded["get"]
        self._peek = loaded["peek"]
        self._cancel = loaded["cancel"]
        self._status = loaded["status"]
        self._len = loaded["len"]
        self._dead_letters = loaded["dead_letters"]
        self._requeue = loaded["requeue"]
        self._counts = loaded["counts"]
        self._tasks = loaded["tasks"]
        self._delete_dead = loaded["delete_dead"]
        self._purge_dead = loaded["purge_dead"]
        self._requeue_all = loaded["requeue_all"]
        self._finished = loaded["finished"]
        self._succeeded = loaded["succeeded"]
        self._due = loaded["due"]
        workers = {script.name: _Script(client, script) for script in scripts.WORKER_SCRIPTS}
        self._heartbeat = workers["heartbeat"]
        self._forget_worker = workers["forget_worker"]
        self._worker_records = workers["worker_records"]
        self._set_paused = _Script(client, pauses.SET_PAUSED)
        self._paused = _Script(client, pauses.PAUSED)
        self._cluster = isinstance(client, RedisCluster)
        # A blocking read must end before the socket's own timeout fires.
        socket_timeout = _socket_timeout(client)
        self._max_block = max(socket_timeout - 0.5, 0.1) if socket_timeout else 60.0

    @staticmethod
    def _connect(conn_string: str) -> Client:
        url, cluster = check_dsn(conn_string)
        options = dict(DEFAULT_OPTIONS)
        if urlsplit(url).scheme == "unix":
            options.pop("socket_keepalive")  # a TCP option; Unix socket connections refuse it
        options.update(driver_options(url))
        try:
            if cluster:
                return RedisCluster.from_url(url, decode_responses=True, **options)
            return redis.Redis.from_url(url, decode_responses=True, **options)
        except (ValueError, TypeError) as err:
            message = scrub(str(err), secrets(conn_string))
            shown = redact_dsn(conn_string)
            raise InvalidDSNError(f"cannot use {shown!r} as a Redis DSN: {message}") from err
        except RedisError as err:
            # A cluster client talks to its seed node at once.
            message = scrub(str(err), secrets(conn_string))
            shown = redact_dsn(conn_string)
            raise BackendError(f"cannot reach the Redis Cluster at {shown}: {message}") from err

    def _queue(self, queue: str) -> _Keys:
        keys = self._keys.get(queue)
        if keys is None:
            with self._keys_lock:
                keys = self._keys.setdefault(queue, _Keys(queue))
        return keys

    def _retention(self) -> tuple[int, float]:
        """The dead-letter retention arguments of every script that may write a dead letter."""
        return self.max_dead_letters, self.dead_letter_ttl

    def _now_arg(self) -> str:
        clock = self.clock
        return "" if clock is None else repr(float(clock()))

    def _error(self, action: str, err: RedisError) -> BackendError:
        detail = scrub(str(err), self._secrets)
        hint = permanent_hint(err)
        if hint is not None:
            # Checked first: a failed AUTH is a ConnectionError to redis-py, yet no outage.
            return PermanentBackendError(
                f"Redis at {self._where} refuses to {action}: {detail}; retrying cannot help: {hint}"
            )
        if isinstance(err, (redis.ConnectionError, redis.TimeoutError)):
            return BackendError(f"cannot reach Redis at {self._where} to {action}: {detail}")
        return BackendError(f"Redis at {self._where} failed to {action}: {detail}")

    def _translated(self, template: str, *args: object) -> _Translated:
        """The one place a Redis error becomes a :class:`BackendError`: the
        message is ``template.format(*args)``, saying what was not done."""
        return _Translated(self, template, args)

    def _eval(self, script: _Script, keys: tuple[str, ...], *args: Any, raw: bool = False) -> Any:
        """Runs a script by its SHA; on a server that lacks it (restarted,
        failed over, flushed) sends its source once, which caches it again.
        With ``raw`` the reply's strings stay bytes (the caller decodes them
        one record at a time)."""
        options = _RAW if raw else _DECODED
        try:
            return self._execute("EVALSHA", script.sha, len(keys), *keys, *args, **options)
        except NoScriptError:
            return self._execute("EVAL", script.source, len(keys), *keys, *args, **options)

    def _run(self, script: _Script, queue: str, *args: Any, raw: bool = False) -> Any:
        return self._eval(script, self._queue(queue).of[script.name], *args, raw=raw)

    def now(self) -> float:
        """Returns the server's ``TIME`` (or the injected clock's).

        Raises:
            BackendError: Redis cannot be reached.
        """
        clock = self.clock
        if clock is not None:
            return clock()
        with self._translated("read its clock"):
            seconds, micros = self.client.time()
        return seconds + micros / 1_000_000

    def _subscribe(self, channels: list[str], deadline: float) -> Any:
        """A pub/sub connection subscribed to ``channels``, once the server has
        confirmed every one (a message published before that would be lost;
        the callers look at the store after this returns)."""
        # redis-py types pubsub() only from 8.2 on: a cast keeps this line
        # right (and free of an ignore that one version or the other flags).
        open_pubsub = cast("Callable[[], Any]", self.client.pubsub)
        limit = max(deadline, time.monotonic() + SUBSCRIBE_DEADLINE)
        while True:
            subscription = open_pubsub()
            try:
                if _confirmed(subscription, channels, limit):
                    return subscription
            except BaseException:
                subscription.close()
                raise
            # Bytes published by hand on one channel came in among the
            # confirmations: start over on a fresh connection (see wait_finished).
            subscription.close()


# execute_command options: keep a reply's strings as bytes, or let the client decode them.
_RAW: dict[str, Any] = {NEVER_DECODE: True}
_DECODED: dict[str, Any] = {}


def _check_seconds(value: float, what: str) -> float:
    """Refuses NaN and infinities before anything is sent (a script must not
    meet them half-way through its writes)."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, not {value!r}")
    return value


def _count(value: object) -> bool:
    """Whether a reply field is a delivery count: an int >= 0 (not a bool)."""
    return type(value) is int and value >= 0


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _number(value: object, kind: type[int] | type[float]) -> float:
    """A number of a reply, or 0 when the field is not a finite one."""
    try:
        text = value.decode() if isinstance(value, bytes) else value
        number = kind(text) if isinstance(text, (str, int, float)) else 0
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if math.isfinite(number) and number >= 0 else 0


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _direct_capable(client: Client) -> bool:
    """Whether push may talk to the client's connections itself: only redis-py's
    own client and connection classes, whose wire format we know."""
    if type(client) is not redis.Redis:
        return False
    pool = client.connection_pool
    known = (redis.Connection, redis.SSLConnection, redis.UnixDomainSocketConnection)
    return pool.connection_class in known and hasattr(pool, "get_connection")


def _socket_timeout(client: Client) -> float | None:
    pool = getattr(client, "connection_pool", None)
    if pool is None:  # a cluster client: its nodes share the options it was built with
        nodes = getattr(client, "nodes_manager", None)
        options = getattr(nodes, "connection_kwargs", {}) if nodes is not None else {}
    else:
        options = pool.connection_kwargs
    value = options.get("socket_timeout")
    return float(value) if value else None
