"""The Redis backend: many workers on many machines, one Redis (or Redis Cluster).

``Gator("redis://localhost:6379/0")`` stores each queue under keys that share
one hash tag, ``alligator:{QUEUE}:...``, and does every step that touches more
than one key in one Lua script (see :mod:`alligator_redis.scripts` for the
key layout). So each step is atomic, a reserve is one round trip, and the
backend runs unchanged on Redis Cluster. Due times and lease deadlines come
from the server's ``TIME``, never from the clocks of the workers.

DSNs, as :meth:`redis.Redis.from_url` reads them (its query options, such as
``socket_timeout`` or ``health_check_interval``, work too; :func:`check_dsn`
refuses a typo before anything connects)::

    redis://[[user]:password@]host[:port][/db]
    rediss://...                            TLS
    unix:///path/to/redis.sock?db=N
    redis://host:7000/0?cluster=true        Redis Cluster (any node as the seed)

A client you built yourself works too, e.g. for Sentinel or a fake server in
tests: ``RedisBackend.from_client(client)``; it must decode responses.

A worker blocked in :meth:`RedisBackend.reserve` waits on the queue's wake-up
list (``BLPOP``) that every push of a due task feeds, so an idle worker starts
a new task within a millisecond or so, and an empty queue costs no polling.

When Redis cannot be reached every method raises
:class:`alligator.exceptions.BackendError`, so ``gator.task()`` tells its
caller that nothing was queued, and a worker backs off and carries on. When
Redis refuses for a reason waiting cannot fix (a database it does not have,
bad credentials, a command it lacks: see :mod:`alligator_redis.errors`) the
error is :class:`~alligator.exceptions.PermanentBackendError`, and a worker
stops with it.
"""

from __future__ import annotations

import difflib
import inspect
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.client import NEVER_DECODE
from redis.cluster import RedisCluster
from redis.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.exceptions import NoScriptError, RedisError

from alligator.backend import (
    Ack,
    Backend,
    DeadLetter,
    Finished,
    QueueCounts,
    Reservation,
    TaskInfo,
    check_page,
    check_window,
)
from alligator.constants import FAILED, SUCCESS
from alligator.exceptions import BackendError, InvalidDSNError, PermanentBackendError
from alligator.pausing import MAX_PAUSE_NAME_BYTES, check_target, listed
from alligator.text import redact_dsn
from alligator_redis import diagnosis, pauses, scripts
from alligator_redis.errors import permanent_hint
from alligator_redis.keys import queue_keys, queue_of, queue_pattern

__all__ = ["PUSH_CHUNK", "RedisBackend", "check_dsn"]
__version__ = "1.0.0"

#: The clients the backend drives.
Client = redis.Redis | RedisCluster

#: Items per script call in :meth:`RedisBackend.push_many`. A long script
#: blocks every other client of the server while it runs, and Lua's unpack()
#: takes a few thousand values at most.
PUSH_CHUNK = 1000
#: With an injected clock, a blocked reserve looks again this often (seconds),
#: because the fake clock may be moved while it waits.
FAKE_CLOCK_POLL = 0.05
#: Connection defaults a DSN's query string may override: a dead server is
#: reported within seconds instead of hanging a producer.
DEFAULT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 5.0, "socket_keepalive": True}

#: What a boolean option of a DSN may say (any case); anything else is refused,
#: where redis-py would read it as true.
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}
#: Numeric options and their ranges (inclusive): a timeout of 0 or less, or one
#: too long for the socket layer, fails only at the first command otherwise.
_RANGES: dict[str, tuple[float, float]] = {
    "socket_timeout": (0.001, 1e9),
    "socket_connect_timeout": (0.001, 1e9),
    "timeout": (0.001, 1e9),
    "health_check_interval": (0, 1e9),
    "max_connections": (1, 2**31 - 1),
    "socket_read_size": (1, 2**31 - 1),
    "protocol": (2, 3),
    "ssl_min_version": (0, 2**31 - 1),
}
#: What an InvalidDSNError says about a DSN urllib cannot parse: never the DSN
#: itself, whose password is where the parse went wrong.
_UNPARSABLE = (
    "the Redis DSN could not be parsed ({}); if its password has special characters "
    "such as # ? / @ :, percent-encode them (# is %23, ? is %3F, / is %2F, @ is %40, : is %3A)"
)


class _Script:
    """A registered script: its name, its SHA and its source."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, client: Client, script: scripts.Script) -> None:
        # register_script computes the SHA; we send EVALSHA ourselves to keep
        # the hot path to one execute_command call.
        self.name = script.name
        self.sha: str = client.register_script(script.source).sha
        self.source = script.source


class _Keys:
    """The key names of one queue, in each script's order, computed once per queue."""

    __slots__ = ("all", "done", "of", "wake", "work")

    def __init__(self, queue: str) -> None:
        names = queue_keys(queue)
        self.wake = names["wake"]
        self.done = names["done"]
        self.work = names["work"]
        self.of = {script.name: tuple(names[key] for key in script.keys) for script in scripts.SCRIPTS}
        self.all = tuple(names.values())


class _Translated:
    """Turns a :class:`redis.RedisError` raised inside it into a :class:`BackendError`.

    The message is formatted only when there is an error, so the hot path
    pays for no string it does not show.
    """

    __slots__ = ("args", "backend", "template")

    def __init__(self, backend: RedisBackend, template: str, args: tuple[object, ...]) -> None:
        self.backend = backend
        self.template = template
        self.args = args

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: Any) -> None:
        if isinstance(err, RedisError):
            raise self.backend._error(self.template.format(*self.args), err) from err


class RedisBackend(Backend):
    """Queues in Redis; see the module docstring.

    Example:
        >>> backend = RedisBackend("redis://localhost:6379/0")  # doctest: +SKIP
        >>> backend.push("emails", "t1", '{"...": 1}')  # doctest: +SKIP
        True

    Args:
        conn_string: The DSN (``redis://``, ``rediss://`` or ``unix://``);
            add ``cluster=true`` to its query string for Redis Cluster.
        client: A ready client to use instead of connecting to the DSN
            (``redis.Redis``, ``redis.cluster.RedisCluster``, or a fake with
            their interface), built with ``decode_responses=True``.

    Raises:
        InvalidDSNError: The DSN has a part redis-py cannot use (a database
            that is not a number, two different databases, an unknown
            option...); the message names it.
    """

    blocking_reserve = True
    stores_results = True
    waits_for_finish = True
    supports_pause = True
    #: The longest task id (in bytes) :meth:`reserve` and :meth:`get` hand out
    #: (contract rule C8); a longer one is dead-lettered under its first this
    #: many bytes, and never sent.
    max_task_id_bytes: int = 1024

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
        self._secrets = _secrets(conn_string)
        self._execute: Callable[..., Any] = client.execute_command
        self._keys: dict[str, _Keys] = {}
        self._push_packed: dict[str, bytes] = {}
        self._direct = _direct_capable(client)
        if self._direct:
            self._pool = client.connection_pool  # type: ignore[union-attr]
            self._get_connection_args = _get_connection_args(self._pool)
        self._keys_lock = threading.Lock()
        loaded = {script.name: _Script(client, script) for script in scripts.SCRIPTS}
        self._push = loaded["push"]
        self._push_many = loaded["push_many"]
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
        self._worker_keys = tuple(scripts.WORKER_KEYS[name] for name in scripts.HEARTBEAT.keys)
        self._set_paused = _Script(client, pauses.SET_PAUSED)
        self._paused = _Script(client, pauses.PAUSED)
        self._cluster = isinstance(client, RedisCluster)
        # A blocking read must end before the socket's own timeout fires.
        socket_timeout = _socket_timeout(client)
        self._max_block = max(socket_timeout - 0.5, 0.1) if socket_timeout else 60.0

    @classmethod
    def from_client(cls, client: Client, conn_string: str = "redis://") -> RedisBackend:
        """Builds a backend on a client you configured yourself.

        Example:
            >>> import fakeredis  # doctest: +SKIP
            >>> client = fakeredis.FakeRedis(decode_responses=True)  # doctest: +SKIP
            >>> backend = RedisBackend.from_client(client)  # doctest: +SKIP

        Args:
            client: A ``redis.Redis`` or ``RedisCluster`` (or a compatible
                fake) built with ``decode_responses=True``.
            conn_string: What to call it in messages.

        Returns:
            The backend.
        """
        return cls(conn_string, client=client)

    @staticmethod
    def _connect(conn_string: str) -> Client:
        url, cluster = check_dsn(conn_string)
        options = dict(DEFAULT_OPTIONS)
        if urlsplit(url).scheme == "unix":
            options.pop("socket_keepalive")  # a TCP option; Unix socket connections refuse it
        try:
            if cluster:
                return RedisCluster.from_url(url, decode_responses=True, **options)
            return redis.Redis.from_url(url, decode_responses=True, **options)
        except (ValueError, TypeError) as err:
            message = _scrub(str(err), _secrets(conn_string))
            shown = redact_dsn(conn_string)
            raise InvalidDSNError(f"cannot use {shown!r} as a Redis DSN: {message}") from err
        except RedisError as err:
            # A cluster client talks to its seed node at once.
            message = _scrub(str(err), _secrets(conn_string))
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
        detail = _scrub(str(err), self._secrets)
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

    # -- time ------------------------------------------------------------

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

    # -- producing -------------------------------------------------------

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        """Adds a task; one EVALSHA round trip. See :meth:`.Backend.push`.

        Raises:
            ValueError: ``delay`` is NaN or infinite, or a string has a lone
                surrogate; nothing was queued.
            BackendError: Redis cannot be reached; nothing was queued.
        """
        _check_seconds(delay, "delay")
        clock = self.clock
        now = "" if clock is None else repr(float(clock()))
        with self._translated("queue task {} on {!r} (it was not queued)", task_id, queue):
            if self._direct:
                try:
                    return self._push_direct(queue, now, task_id, payload, delay)
                except (redis.ConnectionError, redis.TimeoutError):
                    # A pooled connection gone stale (Redis restarted): the
                    # client's own path reconnects and retries as configured.
                    pass
            try:
                return bool(self._execute(*self._push_head(queue), now, task_id, payload, delay))
            except NoScriptError:
                return bool(self._run(self._push, queue, now, task_id, payload, delay))

    def _push_head(self, queue: str) -> tuple[Any, ...]:
        keys = self._queue(queue).of["push"]
        return ("EVALSHA", self._push.sha, len(keys), *keys)

    def _push_direct(self, queue: str, now: str, task_id: str, payload: str, delay: float) -> bool:
        """The producer's hot path on a plain client: the constant start of
        the EVALSHA command (name, SHA, key names) is packed once per queue,
        and the command goes straight down a pooled connection."""
        head = self._push_packed.get(queue)
        if head is None:
            parts = [*self._push_head(queue), "", "", "", ""]
            head = self._push_packed.setdefault(
                queue, f"*{len(parts)}\r\n".encode() + b"".join(_bulk(str(p).encode()) for p in parts[:-4])
            )
        # Encoded before a connection is taken: a string UTF-8 cannot encode
        # raises here, with nothing sent.
        data = b"".join(
            (
                head,
                _bulk(now.encode()),
                _bulk(task_id.encode()),
                _bulk(payload.encode()),
                _bulk(b"%r" % delay),
            )
        )
        pool = self._pool
        conn = pool.get_connection(*self._get_connection_args)
        try:
            conn.send_packed_command([data])
            reply = conn.read_response()
        except NoScriptError:
            return bool(self._run(self._push, queue, now, task_id, payload, delay))
        finally:
            pool.release(conn)
        return bool(reply == 1)

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds many tasks in one round trip (a pipeline of scripts of up to
        :data:`PUSH_CHUNK` tasks each). See :meth:`.Backend.push_many`.

        Raises:
            ValueError: A delay is NaN or infinite; nothing was queued.
            BackendError: Redis cannot be reached; tasks may or may not have
                been queued (pushing them again is safe: ids are unique).
        """
        if not items:
            return 0
        delayed = False
        for item in items:
            delayed = _check_seconds(item[2], "delay") > 0 or delayed
        keys = self._queue(queue).of["push_many"]
        now = self._now_arg()
        # Delays are nearly always 0: then ids and payloads go as pairs, which
        # saves a third of the arguments to pack and parse.
        width = 3 if delayed else 2
        chunks = []
        for start in range(0, len(items), PUSH_CHUNK):
            args: list[Any] = [now, width]
            if width == 2:
                for task_id, payload, _ in items[start : start + PUSH_CHUNK]:
                    args += (task_id, payload)
            else:
                for item in items[start : start + PUSH_CHUNK]:
                    args += item
            chunks.append(args)
        with self._translated("queue {} tasks on {!r}", len(items), queue):
            if len(chunks) == 1:
                return int(self._eval(self._push_many, keys, *chunks[0]))
            return self._push_pipelined(keys, chunks)

    def _push_pipelined(self, keys: tuple[str, ...], chunks: list[list[Any]]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for args in chunks:
            pipe.execute_command("EVALSHA", self._push_many.sha, len(keys), *keys, *args)
        results = pipe.execute(raise_on_error=False)
        added = 0
        for args, result in zip(chunks, results, strict=True):
            if isinstance(result, NoScriptError):
                # Pushing again is safe: the ids already queued are skipped.
                result = self._eval(self._push_many, keys, *args)
            elif isinstance(result, Exception):
                raise result
            added += int(result)
        return added

    # -- consuming -------------------------------------------------------

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks in one script; see :meth:`.Backend.reserve`.

        A due record the caller may not have (its payload over
        :attr:`~alligator.backend.Backend.max_payload_bytes` or its id over
        :attr:`max_task_id_bytes`, either not UTF-8, or a stored count that
        is not a whole number) is dead-lettered inside the same script, its
        payload and id never sent; the others are reserved.

        When nothing is due and ``timeout`` is positive it blocks on the
        queue's wake-up list until a task is pushed or released, the next
        delayed task or lease deadline comes, or the timeout ends.

        Raises:
            ValueError: ``lease_seconds`` is NaN or infinite, or ``timeout`` NaN.
            BackendError: Redis cannot be reached.
        """
        _check_seconds(lease_seconds, "lease_seconds")
        if timeout != timeout:
            raise ValueError("timeout must be a number of seconds, not nan")
        if limit < 1:
            return []
        keys = self._queue(queue)
        deadline = 0.0
        with self._translated("reserve tasks of {!r}", queue):
            while True:
                reply = self._reserve_once(queue, lease_seconds, limit)
                if len(reply) != 1:
                    return self._reservations(queue, reply)
                if timeout <= 0:
                    return []
                if not deadline:
                    deadline = time.monotonic() + timeout
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return []
                if reply[0] >= 0:
                    wait = min(wait, reply[0] / 1000 + 0.001)
                if self.clock is not None:
                    wait = min(wait, FAKE_CLOCK_POLL)
                # BLPOP's timeout 0 means forever; never send it.
                self._execute("BLPOP", keys.wake, max(min(wait, self._max_block), 0.001))

    def _reserve_once(self, queue: str, lease_seconds: float, limit: int) -> Any:
        """One run of the reserve script: the raw reply (records, or a one-item hint)."""
        return self._run(
            self._reserve,
            queue,
            self._now_arg(),
            lease_seconds,
            limit,
            self.max_payload_bytes,
            self.status_ttl,
            self.max_task_id_bytes,
            *self._retention(),
            raw=True,
        )

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        """Reserves from the first of ``queues`` with due work; see :meth:`.Backend.reserve_first`.

        Each round asks every queue in priority order (one script each), so
        a task pushed to an earlier queue is taken before any backlog of a
        later one. When none has work it waits, without polling, for a push,
        release or requeue on any of them (or the next delayed task or
        lease end the scripts report), then asks again, until ``timeout``:

        * on one Redis server, one ``BLPOP`` on every queue's wake-up list;
          a token taken for a queue the call then does not reserve from is
          put back, so a worker blocked on that queue alone is not left
          asleep;
        * on Redis Cluster, where one ``BLPOP`` cannot watch keys of several
          slots, a subscription to every queue's ``work`` channel, on which
          each script that pushes a wake-up token also publishes. The
          subscription is made, and confirmed, before the queues are asked
          again, so no push between the look and the wait is missed.

        Raises:
            ValueError: ``lease_seconds`` is NaN or infinite, or ``timeout`` NaN.
            BackendError: Redis cannot be reached.
        """
        _check_seconds(lease_seconds, "lease_seconds")
        if timeout != timeout:
            raise ValueError("timeout must be a number of seconds, not nan")
        if len(queues) == 1:
            return queues[0], self.reserve(queues[0], lease_seconds, limit, timeout)
        if limit < 1 or not queues:
            return "", []
        deadline = time.monotonic() + max(timeout, 0.0)
        subscription: Any = None
        token: str | None = None
        try:
            with self._translated("reserve tasks of {}", ", ".join(repr(q) for q in queues)):
                while True:
                    hint = -1
                    for queue in queues:
                        reply = self._reserve_once(queue, lease_seconds, limit)
                        if len(reply) != 1:
                            got = self._reservations(queue, reply)
                            if got:
                                if token is not None and token != self._queue(queue).wake:
                                    # Pass on the wake-up this call took for another queue.
                                    self._execute("LPUSH", token, "1")
                                return queue, got
                        elif reply[0] >= 0:
                            hint = reply[0] if hint < 0 else min(hint, reply[0])
                    token = None
                    wait = self._wait_for(deadline, hint)
                    if wait <= 0:
                        return "", []
                    if not self._cluster:
                        popped = self._execute("BLPOP", *(self._queue(q).wake for q in queues), wait)
                        token = popped[0] if popped else None
                    elif subscription is None:
                        # Subscribe, then look again before waiting: see above.
                        subscription = self._subscribe([self._queue(q).work for q in queues], deadline)
                    elif _next_message(subscription, wait) == UNREADABLE_MESSAGE:
                        # Subscribe afresh, then look again before waiting.
                        subscription.close()
                        subscription = None
        finally:
            if subscription is not None:
                subscription.close()

    def _wait_for(self, deadline: float, hint: int) -> float:
        """Seconds a waiter may block now: to ``deadline`` (monotonic), the
        scripts' hint (ms to the next due time, -1 for none), the socket's
        limit and, with an injected clock, a short poll (the fake clock may be
        moved while it waits); 0 when the deadline has passed."""
        wait = deadline - time.monotonic()
        if wait <= 0:
            return 0.0
        if hint >= 0:
            wait = min(wait, hint / 1000 + 0.001)
        if self.clock is not None:
            wait = min(wait, FAKE_CLOCK_POLL)
        # BLPOP's timeout 0 means forever; never send it.
        return max(min(wait, self._max_block), 0.001)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Waits until a task may be due in one of ``queues``; see :meth:`.Backend.wait_for_work`.

        Looks first (one small script per queue: is anything due, and when
        is the next delayed task or lease end); when nothing is, waits as
        :meth:`reserve_first` does: one ``BLPOP`` on every wake-up list, or,
        on Redis Cluster, on a subscription to every queue's ``work`` channel
        made before the look.

        Raises:
            ValueError: ``timeout`` is NaN.
            BackendError: Redis cannot be reached.
        """
        if timeout != timeout:
            raise ValueError("timeout must be a number of seconds, not nan")
        if not queues:
            time.sleep(min(max(timeout, 0.0), 0.1))
            return False
        deadline = time.monotonic() + max(timeout, 0.0)
        subscription: Any = None
        try:
            with self._translated("wait for work on {}", ", ".join(repr(q) for q in queues)):
                if self._cluster and timeout > 0:
                    subscription = self._subscribe([self._queue(q).work for q in queues], deadline)
                hint = -1
                for queue in queues:
                    found = int(self._run(self._due, queue, self._now_arg()))
                    if found == 0:
                        return True
                    if found > 0:
                        hint = found if hint < 0 else min(hint, found)
                wait = self._wait_for(deadline, hint)
                if wait <= 0:
                    return False
                if subscription is not None:
                    return _next_message(subscription, wait) != NOTHING
                return bool(self._execute("BLPOP", *(self._queue(q).wake for q in queues), wait))
        finally:
            if subscription is not None:
                subscription.close()

    def _reservations(self, queue: str, reply: list[Any]) -> list[Reservation]:
        """Decodes a reserve or get reply one record at a time.

        The script hands out only UTF-8 records with whole counts; should one
        get past it anyway (a fake server, a changed script), that record
        alone is dead-lettered and the others delivered: nothing in the reply
        is parsed before its type is checked.
        """
        out = []
        for i in range(0, len(reply) - len(reply) % 5, 5):
            task_id, payload, receipt, attempts, failures = reply[i : i + 5]
            if not (isinstance(task_id, bytes) and isinstance(receipt, bytes)):
                continue  # nothing names the delivery: it stays with its lease
            reason = None
            if not (_count(attempts) and _count(failures) and isinstance(payload, bytes)):
                reason = f"record is corrupt: the reply held {_short(attempts)} and {_short(failures)}"
            else:
                try:
                    out.append(
                        Reservation(task_id.decode(), payload.decode(), receipt.decode(), attempts, failures)
                    )
                except UnicodeDecodeError as err:
                    reason = f"{UNREADABLE}: {err}"
            if reason is not None:
                args = (self._now_arg(), self.status_ttl, task_id, receipt, reason, *self._retention())
                self._run(self._dead_letter, queue, *args)
        return out

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        """See :meth:`.Backend.ack`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("acknowledge task {} of {!r}", task_id, queue):
            return bool(
                self._run(self._ack, queue, self._now_arg(), self.status_ttl, task_id, receipt, "", "")
            )

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        """Acks many deliveries in one script; see :meth:`.Backend.ack_many`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if not items:
            return 0
        args: list[Any] = [self._now_arg(), self.status_ttl]
        for task_id, receipt in items:
            args += (task_id, receipt, "", "")
        with self._translated("acknowledge {} tasks of {!r}", len(items), queue):
            return int(self._run(self._ack, queue, *args))

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        """Acks many tasks and keeps their results, in one script; see :meth:`.Backend.ack_results`.

        One round trip for the whole batch, like :meth:`ack_many`: each
        result is written by the same script that acks its task, only when
        that ack takes effect, with its expiry on the backend's clock. The
        acked ids are published on the queue's ``done`` channel, which wakes
        :meth:`wait_finished`.

        Raises:
            ValueError: A ``result_ttl`` is NaN or infinite; nothing changed.
            BackendError: Redis cannot be reached.
        """
        if not acks:
            return 0
        args: list[Any] = [self._now_arg(), self.status_ttl]
        for ack in acks:
            if ack.result is None:
                args += (ack.task_id, ack.receipt, "", "")
            else:
                args += (
                    ack.task_id,
                    ack.receipt,
                    repr(float(_check_seconds(ack.result_ttl, "result_ttl"))),
                    ack.result,
                )
        with self._translated("acknowledge {} tasks of {!r}", len(acks), queue):
            return int(self._run(self._ack, queue, *args))

    def finished(self, queue: str, task_id: str) -> Finished | None:
        """Reads a finished task's outcome in one script; see :meth:`.Backend.finished`.

        A stored result over :attr:`~alligator.backend.Backend.max_payload_bytes`
        is measured in the script, never sent; one that is not UTF-8 is
        refused there too. A record written by hand never makes it raise.

        Raises:
            BackendError: Redis cannot be reached.
        """
        args = (self._now_arg(), self.status_ttl, task_id, self.max_payload_bytes, self.dead_letter_ttl)
        with self._translated("read the outcome of task {} of {!r}", task_id, queue):
            reply = self._run(self._finished, queue, *args, raw=True)
        if not isinstance(reply, list) or len(reply) != 4:
            return None
        kind, value, why, at = reply

        def text(field: object) -> str:
            return field.decode("utf-8", "replace") if isinstance(field, bytes) else ""

        finished_at = float(_number(at, float)) if at else None
        if kind == b"F":
            return Finished(task_id, FAILED, None, text(why), finished_at)
        result = None
        reason = text(why) or None
        if kind == b"R" and isinstance(value, bytes):
            try:
                result = value.decode()
            except UnicodeDecodeError:
                reason = "result is not valid UTF-8"
        return Finished(task_id, SUCCESS, result, reason, finished_at)

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks in one script; see :meth:`.Backend.succeeded`.

        The page is read from the queue's ``succeeded`` sorted set (acked at,
        trimmed after ``status_ttl``), newest first, each with its kept result
        measured in the script as :meth:`finished` measures it.

        Raises:
            ValueError: A negative offset or limit.
            BackendError: Redis cannot be reached.
        """
        check_window(offset, limit)
        if limit == 0:
            return []
        args = (
            self._now_arg(),
            self.status_ttl,
            offset,
            limit,
            self.max_payload_bytes,
            self.max_task_id_bytes,
        )
        with self._translated("list the succeeded tasks of {!r}", queue):
            reply = self._run(self._succeeded, queue, *args, raw=True)
        page = []
        for i in range(0, len(reply), 5):
            task_id, kind, value, why, at = (field.decode("utf-8", "replace") for field in reply[i : i + 5])
            page.append(
                Finished(
                    task_id, SUCCESS, value if kind == "R" else None, why or None, float(_number(at, float))
                )
            )
        return page

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        """Waits for a task to finish, woken by the script that acks or dead-letters it.

        Subscribes to the queue's ``done`` channel first, then reads
        :meth:`finished` (so an outcome that came before the subscription is
        seen), then waits for a message naming the task: no polling. With an
        injected clock it still waits on the channel (the clock decides
        expiry, not the wait).

        Returns:
            As :meth:`.Backend.wait_finished`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if timeout != timeout:
            raise ValueError("timeout must be a number of seconds, not nan")
        deadline = time.monotonic() + max(timeout, 0.0)
        channel = self._queue(queue).done
        wanted = task_id.encode("utf-8", "surrogatepass")
        with self._translated("wait for task {} of {!r}", task_id, queue):
            subscription = self._subscribe([channel], deadline)
            try:
                found = self.finished(queue, task_id)
                while found is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        message = subscription.get_message(timeout=min(left, self._max_block))
                    except UnicodeDecodeError:
                        # Bytes published by hand. redis-py's reader is not to be
                        # trusted after a decode error (it was seen to replay the
                        # subscription's confirmation and drop the messages after
                        # it), so wait on a fresh subscription, after a look.
                        subscription.close()
                        subscription = self._subscribe([channel], deadline)
                        found = self.finished(queue, task_id)
                        continue
                    if message is None or message.get("type") != "message":
                        continue
                    if wanted in _announced(message.get("data")):
                        found = self.finished(queue, task_id)
            finally:
                subscription.close()
        return found

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

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        """See :meth:`.Backend.release`; ``attempted=True`` counts a failure.

        Raises:
            ValueError: ``delay`` is NaN or infinite; nothing changed.
            BackendError: Redis cannot be reached.
        """
        _check_seconds(delay, "delay")
        args = (self._now_arg(), task_id, receipt, delay, "1" if attempted else "0")
        with self._translated("release task {} of {!r}", task_id, queue):
            return bool(self._run(self._release, queue, *args))

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        """See :meth:`.Backend.extend`.

        Raises:
            ValueError: ``lease_seconds`` is NaN or infinite.
            BackendError: Redis cannot be reached.
        """
        return self.extend_many(queue, [(task_id, receipt)], lease_seconds)[0]

    def extend_many(self, queue: str, items: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """Extends many leases in one script; see :meth:`.Backend.extend_many`.

        Raises:
            ValueError: ``lease_seconds`` is NaN or infinite.
            BackendError: Redis cannot be reached.
        """
        _check_seconds(lease_seconds, "lease_seconds")
        if not items:
            return []
        args: list[Any] = [self._now_arg(), lease_seconds]
        for pair in items:
            args += pair
        with self._translated("extend {} leases in {!r}", len(items), queue):
            return [bool(kept) for kept in self._run(self._extend, queue, *args)]

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        """See :meth:`.Backend.dead_letter`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        args = (self._now_arg(), self.status_ttl, task_id, receipt, reason, *self._retention())
        with self._translated("dead-letter task {} of {!r}", task_id, queue):
            return bool(self._run(self._dead_letter, queue, *args))

    # -- inspecting and managing ----------------------------------------

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        """See :meth:`.Backend.get`; an unreadable record is dead-lettered, and None returned.

        Raises:
            ValueError: ``lease_seconds`` is NaN or infinite.
            BackendError: Redis cannot be reached.
        """
        _check_seconds(lease_seconds, "lease_seconds")
        args = (
            self._now_arg(),
            task_id,
            lease_seconds,
            self.max_payload_bytes,
            self.status_ttl,
            self.max_task_id_bytes,
            *self._retention(),
        )
        with self._translated("get task {} of {!r}", task_id, queue):
            reply = self._run(self._get, queue, *args, raw=True)
            got = self._reservations(queue, reply) if reply else []
        return got[0] if got else None

    def peek(self, queue: str, task_id: str) -> str | None:
        """See :meth:`.Backend.peek`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("read task {} of {!r}", task_id, queue):
            payload = self._run(self._peek, queue, self._now_arg(), task_id, self.max_payload_bytes, raw=True)
        if payload is None:
            return None
        try:
            return str(payload.decode())
        except UnicodeDecodeError:
            return None

    def cancel(self, queue: str, task_id: str) -> bool:
        """See :meth:`.Backend.cancel`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("cancel task {} of {!r}", task_id, queue):
            return bool(self._run(self._cancel, queue, self._now_arg(), task_id))

    def status(self, queue: str, task_id: str) -> int | None:
        """See :meth:`.Backend.status`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("read the status of task {} of {!r}", task_id, queue):
            args = (self._now_arg(), self.status_ttl, task_id, self.dead_letter_ttl)
            found = int(self._run(self._status, queue, *args))
        return None if found < 0 else found

    def len(self, queue: str) -> int:
        """See :meth:`.Backend.len`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("count the tasks of {!r}", queue):
            return int(self._run(self._len, queue, self._now_arg()))

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """See :meth:`.Backend.dead_letters`.

        A payload over :attr:`~alligator.backend.Backend.max_payload_bytes`
        comes cut to that many bytes; bytes that are not UTF-8 (in any field)
        come as U+FFFD.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if limit <= 0:
            return []
        with self._translated("list the dead letters of {!r}", queue):
            limits = (self.max_payload_bytes, self.max_task_id_bytes)
            args = (self._now_arg(), limit, *limits, *self._retention())
            reply = self._run(self._dead_letters, queue, *args, raw=True)

        def text(value: object) -> str:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""

        letters = []
        for i in range(0, len(reply) - len(reply) % 5, 5):
            task_id, payload, reason = text(reply[i]), text(reply[i + 1]), text(reply[i + 2])
            # The script checks both numbers; a field that is still none (a
            # fake server, a changed script) is listed as 0, never raised.
            attempts, failed_at = _number(reply[i + 3], int), _number(reply[i + 4], float)
            letters.append(DeadLetter(task_id, payload, reason, int(attempts), failed_at))
        return letters

    def requeue(self, queue: str, task_id: str) -> bool:
        """See :meth:`.Backend.requeue`: never over a live task of the same id.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("requeue task {} of {!r}", task_id, queue):
            return bool(self._run(self._requeue, queue, self._now_arg(), task_id))

    def queues(self) -> list[str]:
        """Lists the queues holding a task or dead letter; see :meth:`.Backend.queues`.

        Found with ``SCAN`` (on every primary of a cluster) for the keys that
        exist only while a queue holds a live task (``payloads``) or a dead
        letter (``dead_order``): no registry to keep, nothing to clean up. It
        walks the whole keyspace, so it is for operators, not for hot paths.

        Raises:
            BackendError: Redis cannot be reached.
        """
        return self._scan_queues(("payloads", "dead_order"), "list the queues")

    def finished_queues(self) -> list[str]:
        """Lists the queues remembering a finished task; see :meth:`.Backend.finished_queues`.

        ``SCAN`` for the ``succeeded``, ``failed`` and ``result_expiry`` keys,
        as :meth:`queues` scans for its own.

        Raises:
            BackendError: Redis cannot be reached.
        """
        return self._scan_queues(
            ("succeeded", "failed", "result_expiry"), "list the queues of finished tasks"
        )

    def _scan_queues(self, suffixes: Sequence[str], action: str) -> list[str]:
        """The queues that have a key of one of these kinds, found with ``SCAN``."""
        found: set[str] = set()
        with self._translated(action):
            for suffix in suffixes:
                for key in self.client.scan_iter(match=queue_pattern(suffix), count=1000):
                    name = queue_of(key, suffix)
                    if name is not None:
                        found.add(name)
        return sorted(found)

    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state in one script; see :meth:`.Backend.counts`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("count the tasks of {!r}", queue):
            reply = self._run(self._counts, queue, self._now_arg(), self.dead_letter_ttl)
        return QueueCounts(*(int(n) for n in reply))

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one state; see :meth:`.Backend.tasks`.

        One script; payloads are cut to the limit in it, so no more than
        that is sent, and bytes that are not UTF-8 come as U+FFFD.

        Raises:
            ValueError: An unknown state, or a negative offset or limit.
            BackendError: Redis cannot be reached.
        """
        check_page(state, offset, limit)
        if limit == 0:
            return []
        args = (self._now_arg(), state, offset, limit, self.max_payload_bytes, *self._retention())
        with self._translated("list the {} tasks of {!r}", state, queue):
            reply = self._run(self._tasks, queue, *args, raw=True)

        def text(value: bytes) -> str:
            return value.decode("utf-8", "replace")

        infos = []
        for i in range(0, len(reply), 6):
            # Stored counts and times are shown as 0 when a hand-written record
            # holds something else there: listing never raises for a record.
            task_id, payload, at = text(reply[i]), text(reply[i + 1]), float(_number(reply[i + 4], float))
            attempts, failures = int(_number(reply[i + 2], int)), int(_number(reply[i + 3], int))
            if state == "dead":
                infos.append(TaskInfo(task_id, state, payload, attempts, 0, None, text(reply[i + 5]), at))
            else:
                infos.append(TaskInfo(task_id, state, payload, attempts, failures, at))
        return infos

    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter in one script; see :meth:`.Backend.delete_dead`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("delete dead letter {} of {!r}", task_id, queue):
            return bool(self._run(self._delete_dead, queue, task_id))

    def purge_dead(self, queue: str) -> int:
        """Deletes every dead letter of a queue in one script; see :meth:`.Backend.purge_dead`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("purge the dead letters of {!r}", queue):
            return int(self._run(self._purge_dead, queue))

    def requeue_all(self, queue: str) -> int:
        """Requeues every dead letter in one script; see :meth:`.Backend.requeue_all`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("requeue the dead letters of {!r}", queue):
            return int(self._run(self._requeue_all, queue, self._now_arg()))

    # -- live workers ----------------------------------------------------

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        """Writes a live worker's record in one script; see :meth:`.Backend.heartbeat`.

        The registry's keys share one hash tag (``{%workers}``, one slot on
        a cluster). Expiry is data (each record's end on the backend's
        clock), trimmed by every heartbeat along with the oldest over
        :attr:`~alligator.backend.Backend.max_workers`; the keys also carry
        a native expiry a day past the TTL, so they vanish when every
        worker is gone.

        Raises:
            ValueError: ``ttl`` is NaN or infinite.
            BackendError: Redis cannot be reached.
        """
        _check_seconds(ttl, "ttl")
        args = (self._now_arg(), worker_id, record, repr(float(ttl)), self.max_workers)
        with self._translated("write the heartbeat of worker {}", worker_id):
            self._eval(self._heartbeat, self._worker_keys, *args)

    def forget_worker(self, worker_id: str) -> bool:
        """Removes a worker's record; see :meth:`.Backend.forget_worker`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("remove the record of worker {}", worker_id):
            return bool(self._eval(self._forget_worker, self._worker_keys, worker_id))

    def worker_records(self) -> list[tuple[str, str]]:
        """Lists the live workers, oldest heartbeat first; see :meth:`.Backend.worker_records`.

        The script drops the expired records first and skips (never sends)
        a record over :attr:`~alligator.backend.Backend.max_payload_bytes`
        or one that is not UTF-8.

        Raises:
            BackendError: Redis cannot be reached.
        """
        args = (self._now_arg(), self.max_payload_bytes, self.max_workers)
        with self._translated("list the live workers"):
            reply = self._eval(self._worker_records, self._worker_keys, *args, raw=True)
        found = []
        for i in range(0, len(reply) - len(reply) % 2, 2):
            worker_id, record = reply[i], reply[i + 1]
            if not (isinstance(worker_id, bytes) and isinstance(record, bytes)):
                continue
            try:
                found.append((worker_id.decode(), record.decode()))
            except UnicodeDecodeError:
                continue  # the script checks UTF-8; a fake server might not
        return found

    # -- pausing ---------------------------------------------------------

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes one queue or function in one script; see :meth:`.Backend.set_paused`.

        Every pause of the store is a member of one key (see
        :mod:`alligator_redis.pauses` for why one key suits Redis Cluster).

        Raises:
            ValueError: A refused name, or past the cap; nothing is written.
            BackendError: Redis cannot be reached.
        """
        check_target(kind, name)
        args = (f"{kind}:{name}", "1" if paused else "0", self.max_pauses)
        with self._translated("{} the {} {!r}", "pause" if paused else "resume", kind, name):
            changed = int(self._eval(self._set_paused, (pauses.PAUSES_KEY,), *args))
        if changed < 0:
            raise ValueError(f"this store keeps at most {self.max_pauses} pauses; resume some first")
        return changed > 0

    def paused(self) -> list[tuple[str, str]]:
        """Lists the pauses in one script; see :meth:`.Backend.paused`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        longest = len("function:") + MAX_PAUSE_NAME_BYTES
        with self._translated("list the paused queues and functions"):
            reply = self._eval(self._paused, (pauses.PAUSES_KEY,), longest, self.max_pauses, raw=True)
        found = []
        for member in reply:
            if not isinstance(member, bytes):
                continue
            try:
                kind, _, name = member.decode().partition(":")
            except UnicodeDecodeError:
                continue  # the script checks UTF-8; a fake server might not
            found.append((kind, name))
        return listed(found, self.max_pauses)

    # -- deployment checks -----------------------------------------------

    def diagnose(self) -> list[tuple[str, str, str]]:
        """Checks persistence, eviction, memory, writes and a Cluster's health; see :mod:`.diagnosis`.

        Reads ``INFO persistence`` and ``INFO memory`` (and ``CONFIG GET
        save`` for the RDB schedule; managed servers and ACLs often refuse
        CONFIG, and then INFO alone decides), writes and deletes a probe key.
        On a cluster every primary is checked and named, after the cluster's
        own state. A server that answers but refuses INFO (a fake one, an
        ACL) gives a warning, not an error.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("check its settings"):
            return diagnosis.diagnose(self.client)

    def task_loss_risks(self) -> list[tuple[str, str]]:
        """An evicting ``maxmemory-policy``, or no persistence; see :meth:`.Backend.task_loss_risks`.

        Two INFO sections and ``CONFIG GET save``, on each primary of a cluster.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("check its settings"):
            return diagnosis.loss_risks(self.client)

    def drop_all(self, queue: str) -> None:
        """Deletes every key of the queue in one command; see :meth:`.Backend.drop_all`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("drop the queue {!r}", queue):
            self._execute("DEL", *self._queue(queue).all)

    def close(self) -> None:
        """Closes the client's connections."""
        self.client.close()


#: How long a subscription may take to be confirmed by the server (seconds).
SUBSCRIBE_DEADLINE = 10.0


def _announced(data: object) -> set[bytes]:
    """The task ids of one ``done`` message: ``"<bytes>:<id>"`` one after the
    other. Whatever does not parse (published by hand) ends the list."""
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
    elif isinstance(data, bytes):
        raw = data
    else:
        return set()
    ids: set[bytes] = set()
    at = 0
    while at < len(raw):
        colon = raw.find(b":", at)
        if colon < 0 or not raw[at:colon].isdigit() or colon - at > 12:
            break
        end = colon + 1 + int(raw[at:colon])
        if end > len(raw):
            break
        ids.add(raw[colon + 1 : end])
        at = end
    return ids


def _confirmed(subscription: Any, channels: list[str], limit: float) -> bool:
    """Subscribes to ``channels`` and reads the server's confirmation of each.

    Returns:
        True once all are confirmed; False when bytes that are not UTF-8,
        published by hand, came in among them (the connection is then not to
        be trusted: the caller starts over).

    Raises:
        redis.TimeoutError: The server did not confirm them by ``limit`` (monotonic).
    """
    subscription.subscribe(*channels)
    confirmed = 0
    while confirmed < len(channels):
        left = limit - time.monotonic()
        if left <= 0:
            raise redis.TimeoutError(f"the server did not confirm {len(channels)} subscriptions")
        try:
            message = subscription.get_message(timeout=left)
        except UnicodeDecodeError:
            return False
        if message is not None and message.get("type") == "subscribe":
            confirmed += 1
    return True


#: What :func:`_next_message` saw: a message, nothing, or bytes published by hand
#: after which the subscription is not to be trusted.
MESSAGE, NOTHING, UNREADABLE_MESSAGE = "message", "nothing", "unreadable"


def _next_message(subscription: Any, wait: float) -> str:
    """Waits up to ``wait`` seconds for one message on a subscription.

    Returns:
        :data:`MESSAGE`, :data:`NOTHING`, or :data:`UNREADABLE_MESSAGE` for
        bytes that are not UTF-8 (published by hand: the caller looks again,
        on a fresh subscription).
    """
    try:
        message = subscription.get_message(timeout=wait)
    except UnicodeDecodeError:
        return UNREADABLE_MESSAGE
    return MESSAGE if message is not None and message.get("type") == "message" else NOTHING


#: The reason a record whose payload is not UTF-8 is dead-lettered with.
UNREADABLE = "payload is not valid UTF-8"
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


def _get_connection_args(pool: Any) -> tuple[str, ...]:
    # redis-py 5 wants a command name here; later versions deprecate passing one.
    parameter = inspect.signature(pool.get_connection).parameters.get("command_name")
    return ("EVALSHA",) if parameter is not None and parameter.default is inspect.Parameter.empty else ()


def _secrets(conn_string: str) -> tuple[str, ...]:
    """The passwords a DSN holds (userinfo and query), to keep out of messages."""
    try:
        parts = urlsplit(conn_string)
        found = [parts.password or ""]
        query = parse_qsl(parts.query, keep_blank_values=True)
        found += [value for key, value in query if key.lower() in _SECRET_OPTIONS]
    except ValueError:
        return ()
    return tuple(sorted({secret for secret in found if secret}, key=len, reverse=True))


def _scrub(message: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def _socket_timeout(client: Client) -> float | None:
    pool = getattr(client, "connection_pool", None)
    if pool is None:  # a cluster client: its nodes share the options it was built with
        nodes = getattr(client, "nodes_manager", None)
        options = getattr(nodes, "connection_kwargs", {}) if nodes is not None else {}
    else:
        options = pool.connection_kwargs
    value = options.get("socket_timeout")
    return float(value) if value else None


# -- DSNs ------------------------------------------------------------------------

_SECRET_OPTIONS = {"password", "passwd", "pass", "secret", "token", "ssl_password"}
_CONNECTION_CLASSES: dict[str, type[Any]] = {
    "redis": redis.Connection,
    "rediss": redis.SSLConnection,
    "unix": redis.UnixDomainSocketConnection,
}


def _parameters(*classes: type[Any]) -> set[str]:
    """The keyword arguments the classes' constructors (and their bases') take."""
    names: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            try:
                parameters = inspect.signature(init).parameters.values()
            except (TypeError, ValueError):
                continue
            names |= {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    names.discard("self")
    return names


def _known_options(scheme: str, cluster: bool) -> set[str]:
    known = _parameters(_CONNECTION_CLASSES[scheme], redis.ConnectionPool, redis.BlockingConnectionPool)
    known |= set(URL_QUERY_ARGUMENT_PARSERS) | {"cluster"}
    if cluster:
        known |= _parameters(RedisCluster)
    return known


def _option_problem(key: str, value: str) -> str | None:
    """What is wrong with one option's value (None: nothing we can tell)."""
    if key in _SECRET_OPTIONS:
        return None
    parser = URL_QUERY_ARGUMENT_PARSERS.get(key)
    if key == "cluster" or getattr(parser, "__name__", "") == "to_bool":
        if value.lower() in _TRUE | _FALSE:
            return None
        return f"option {key!r} must be true or false (or 1/0, yes/no), not {value!r}"
    if key not in _RANGES:
        return None
    low, high = _RANGES[key]
    try:
        number = int(value) if parser is int else float(value)
    except ValueError:
        return f"option {key!r} must be a number, not {value!r}"
    if not (math.isfinite(number) and low <= number <= high):
        return f"option {key!r} must be a number from {low:g} to {high:g}, not {value!r}"
    return None


def check_dsn(conn_string: str) -> tuple[str, bool]:
    """Checks a Redis DSN before any client is built, naming a bad part.

    redis-py reads some mistakes silently (``/abc`` as database 0) and others
    only at the first command (an unknown option is a ``TypeError`` then), so
    a typo would pass ``Gator()`` and fail at the first enqueue.

    Example:
        >>> check_dsn("redis://localhost:6379/2?cluster=false")
        ('redis://localhost:6379/2', False)
        >>> check_dsn("redis://localhost/0?socket_timout=3")
        Traceback (most recent call last):
        ...
        alligator.exceptions.InvalidDSNError: cannot use ... (did you mean socket_timeout?)

    Args:
        conn_string: The DSN.

    Returns:
        The DSN for redis-py (without our own ``cluster`` option), and whether
        it names a Redis Cluster.

    Raises:
        InvalidDSNError: It cannot be parsed (the message then shows no part
            of it, since a password with an unencoded ``#``, ``?`` or ``/``
            is where parsing goes wrong), or its scheme, port, database or an
            option (unknown, a number out of range, a boolean that is not
            true/false/1/0/yes/no) is wrong; the message names the part.
    """
    try:
        parts = urlsplit(conn_string)
    except ValueError as err:
        raise InvalidDSNError(_UNPARSABLE.format("a host in [brackets] is not closed")) from err
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError as err:
        raise InvalidDSNError(_UNPARSABLE.format("the port is not a number from 0 to 65535")) from err
    # An unencoded # ? or / in a password ends the userinfo early: the rest of
    # it (and the host) lands in the fragment, query or path, and would be shown.
    if parts.fragment or "@" in parts.path or "@" in parts.query:
        raise InvalidDSNError(_UNPARSABLE.format("an @ or # outside the user and password part"))
    shown = redact_dsn(conn_string)

    def refuse(problem: str) -> InvalidDSNError:
        return InvalidDSNError(f"cannot use {shown!r} as a Redis DSN: {problem}")

    scheme = parts.scheme.lower()
    if scheme not in _CONNECTION_CLASSES:
        raise refuse(f"the scheme must be redis, rediss or unix, not {parts.scheme!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    values: dict[str, str] = {}
    for key, value in query:
        if key in values and values[key] != value:
            raise refuse(f"option {key!r} is given twice, as {values[key]!r} and {value!r}")
        values[key] = value
    cluster = values.get("cluster", "").lower() in _TRUE
    known = _known_options(scheme, cluster)
    for key, value in values.items():
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise refuse(f"unknown option {key!r}{hint}")
        problem = _option_problem(key, value)
        if problem:
            raise refuse(problem)
    path_db = None
    if scheme != "unix" and parts.path not in ("", "/"):
        text = unquote(parts.path[1:])
        if not text.isdigit():
            raise refuse(f"the database must be a number, not {text!r}")
        path_db = int(text)
    if "db" in values:
        if not values["db"].strip().isdigit():
            raise refuse(f"the database must be a number, not {values['db']!r}")
        if path_db is not None and int(values["db"]) != path_db:
            raise refuse(f"two different databases: {path_db} in the path and {values['db']} in ?db=")
    if "cluster" in values:
        # redis-py knows no such option: take it out before it sees the URL.
        rest = [(k, v) for k, v in query if k != "cluster"]
        conn_string = urlunsplit(parts._replace(query=urlencode(rest)))
    return conn_string, cluster
