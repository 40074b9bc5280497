"""The Redis backend: many workers on many machines, one Redis (or Redis Cluster).

``Gator("redis://localhost:6379/0")`` stores each queue under keys that share
one hash tag, ``alligator:{QUEUE}:...``, and does every step that touches more
than one key in one Lua script (see :mod:`alligator_redis.scripts` for the
key layout). So each step is atomic, a reserve is one round trip, and the
backend runs unchanged on Redis Cluster. Due times and lease deadlines come
from the server's ``TIME``, never from the clocks of the workers.

DSNs, as :meth:`redis.Redis.from_url` reads them (its query options, such as
``socket_timeout`` or ``health_check_interval``, work too)::

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
caller that nothing was queued, and a worker backs off and carries on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from alligator.backend import Backend, DeadLetter, Reservation
from alligator.exceptions import BackendError, InvalidDSNError
from alligator_redis import scripts

__all__ = ["PUSH_CHUNK", "RedisBackend"]
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

_TRUE = {"1", "true", "yes", "on"}


class _Script:
    """A registered script and the EVALSHA call head it is sent with."""

    __slots__ = ("sha", "source")

    def __init__(self, client: Client, source: str) -> None:
        # register_script computes the SHA; we send EVALSHA ourselves to keep
        # the hot path to one execute_command call.
        self.sha: str = client.register_script(source).sha
        self.source = source


class _Keys:
    """The key names of one queue, precomputed once per queue and script."""

    def __init__(self, queue: str) -> None:
        # A brace in the name would change which part Redis hashes; hex keeps
        # every key of such a queue in one slot.
        tag = queue if "{" not in queue and "}" not in queue else "x" + queue.encode().hex()
        prefix = f"alligator:{{{tag}}}:"
        (
            pending,
            members,
            payloads,
            attempts,
            receipts,
            leases,
            seq,
            succeeded,
            failed,
            dead,
            dead_order,
            wake,
        ) = (
            prefix + name
            for name in (
                "pending",
                "members",
                "payloads",
                "attempts",
                "receipts",
                "leases",
                "seq",
                "succeeded",
                "failed",
                "dead",
                "dead_order",
                "wake",
            )
        )
        self.wake = wake
        self.push = (payloads, members, pending, seq, wake)
        self.reserve = (pending, members, payloads, attempts, receipts, leases, seq, wake)
        self.ack = (receipts, leases, payloads, attempts, succeeded, failed)
        self.release = (receipts, leases, attempts, pending, members, seq, wake)
        self.extend = (receipts, leases)
        self.dead_letter = (receipts, leases, payloads, attempts, dead, dead_order, failed, succeeded, seq)
        self.get = (members, pending, payloads, attempts, receipts, leases, seq)
        self.cancel = (members, pending, payloads, attempts, receipts, leases, succeeded, failed)
        self.status = (receipts, leases, members, pending, succeeded, failed)
        self.len = (pending, leases)
        self.dead_letters = (dead_order, dead)
        self.requeue = (dead, dead_order, failed, payloads, attempts, members, pending, seq, wake)
        # The sequence counter survives drop_all, so a receipt handed out
        # before it can never match a delivery made after it.
        self.all: tuple[str, ...] = (pending, members, payloads, attempts, receipts, leases)
        self.all += (succeeded, failed, dead, dead_order, wake)


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
        InvalidDSNError: The DSN is not one redis-py can connect with.
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
        self._where = _describe(conn_string)
        self._execute: Callable[..., Any] = client.execute_command
        self._keys: dict[str, _Keys] = {}
        self._push_packed: dict[str, bytes] = {}
        self._direct = _direct_capable(client)
        if self._direct:
            self._pool = client.connection_pool  # type: ignore[union-attr]
            self._get_connection_args = _get_connection_args(self._pool)
        self._keys_lock = threading.Lock()
        self._push = _Script(client, scripts.PUSH)
        self._push_many = _Script(client, scripts.PUSH_MANY)
        self._reserve = _Script(client, scripts.RESERVE)
        self._ack = _Script(client, scripts.ACK)
        self._release = _Script(client, scripts.RELEASE)
        self._extend = _Script(client, scripts.EXTEND)
        self._dead_letter = _Script(client, scripts.DEAD_LETTER)
        self._get = _Script(client, scripts.GET)
        self._cancel = _Script(client, scripts.CANCEL)
        self._status = _Script(client, scripts.STATUS)
        self._len = _Script(client, scripts.LEN)
        self._dead_letters = _Script(client, scripts.DEAD_LETTERS)
        self._requeue = _Script(client, scripts.REQUEUE)
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
        url, cluster = conn_string, False
        parts = urlsplit(conn_string)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(k == "cluster" for k, _ in query):
            # redis-py knows no such option: take it out before it sees the URL.
            cluster = any(k == "cluster" and v.lower() in _TRUE for k, v in query)
            rest = [(k, v) for k, v in query if k != "cluster"]
            url = urlunsplit(parts._replace(query=urlencode(rest)))
        options = dict(DEFAULT_OPTIONS)
        if parts.scheme == "unix":
            options.pop("socket_keepalive")  # a TCP option; Unix socket connections refuse it
        try:
            if cluster:
                return RedisCluster.from_url(url, decode_responses=True, **options)
            return redis.Redis.from_url(url, decode_responses=True, **options)
        except (ValueError, TypeError) as err:
            raise InvalidDSNError(f"cannot use {_describe(conn_string)!r} as a Redis DSN: {err}") from err
        except RedisError as err:
            # A cluster client talks to its seed node at once.
            raise BackendError(f"cannot reach the Redis Cluster at {_describe(conn_string)}: {err}") from err

    def _queue(self, queue: str) -> _Keys:
        keys = self._keys.get(queue)
        if keys is None:
            with self._keys_lock:
                keys = self._keys.setdefault(queue, _Keys(queue))
        return keys

    def _now_arg(self) -> str:
        clock = self.clock
        return "" if clock is None else repr(float(clock()))

    def _error(self, action: str, err: RedisError) -> BackendError:
        if isinstance(err, (redis.ConnectionError, redis.TimeoutError)):
            return BackendError(f"cannot reach Redis at {self._where} to {action}: {err}")
        return BackendError(f"Redis at {self._where} failed to {action}: {err}")

    def _eval(self, script: _Script, keys: tuple[str, ...], *args: Any) -> Any:
        """Runs a script by its SHA; on a server that lacks it (restarted,
        failed over, flushed) sends its source once, which caches it again."""
        try:
            return self._execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self._execute("EVAL", script.source, len(keys), *keys, *args)

    # -- time ------------------------------------------------------------

    def now(self) -> float:
        """Returns the server's ``TIME`` (or the injected clock's).

        Raises:
            BackendError: Redis cannot be reached.
        """
        clock = self.clock
        if clock is not None:
            return clock()
        try:
            seconds, micros = self.client.time()
        except RedisError as err:
            raise self._error("read its clock", err) from err
        return seconds + micros / 1_000_000

    # -- producing -------------------------------------------------------

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        """Adds a task; one EVALSHA round trip. See :meth:`.Backend.push`.

        Raises:
            BackendError: Redis cannot be reached; nothing was queued.
        """
        clock = self.clock
        now = "" if clock is None else repr(float(clock()))
        try:
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
                return bool(self._eval(self._push, self._queue(queue).push, now, task_id, payload, delay))
        except RedisError as err:
            raise self._error(f"queue task {task_id} on {queue!r} (it was not queued)", err) from err

    def _push_head(self, queue: str) -> tuple[Any, ...]:
        keys = self._queue(queue).push
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
        delay_arg = _bulk(b"%r" % delay)
        data = b"".join(
            (head, _bulk(now.encode()), _bulk(task_id.encode()), _bulk(payload.encode()), delay_arg)
        )
        pool = self._pool
        conn = pool.get_connection(*self._get_connection_args)
        try:
            conn.send_packed_command([data])
            reply = conn.read_response()
        except NoScriptError:
            return bool(self._eval(self._push, self._queue(queue).push, now, task_id, payload, delay))
        finally:
            pool.release(conn)
        return bool(reply == 1)

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds many tasks in one round trip (a pipeline of scripts of up to
        :data:`PUSH_CHUNK` tasks each). See :meth:`.Backend.push_many`.

        Raises:
            BackendError: Redis cannot be reached; tasks may or may not have
                been queued (pushing them again is safe: ids are unique).
        """
        if not items:
            return 0
        keys = self._queue(queue).push
        now = self._now_arg()
        # Delays are nearly always 0: then ids and payloads go as pairs, which
        # saves a third of the arguments to pack and parse.
        width = 3 if any(item[2] > 0 for item in items) else 2
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
        try:
            if len(chunks) == 1:
                return int(self._eval(self._push_many, keys, *chunks[0]))
            return self._push_pipelined(keys, chunks)
        except RedisError as err:
            raise self._error(f"queue {len(items)} tasks on {queue!r}", err) from err

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

        When nothing is due and ``timeout`` is positive it blocks on the
        queue's wake-up list until a task is pushed or released, the next
        delayed task or lease deadline comes, or the timeout ends.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if limit < 1:
            return []
        keys = self._queue(queue)
        deadline = 0.0
        try:
            while True:
                reply = self._eval(self._reserve, keys.reserve, self._now_arg(), lease_seconds, limit)
                if len(reply) != 1:
                    return [
                        Reservation(reply[i], reply[i + 1], reply[i + 2], reply[i + 3])
                        for i in range(0, len(reply), 4)
                    ]
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
        except RedisError as err:
            raise self._error(f"reserve tasks of {queue!r}", err) from err

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        """See :meth:`.Backend.ack`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        keys = self._queue(queue).ack
        try:
            return bool(self._eval(self._ack, keys, self._now_arg(), self.status_ttl, task_id, receipt))
        except RedisError as err:
            raise self._error(f"acknowledge task {task_id} of {queue!r}", err) from err

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        """Acks many deliveries in one script; see :meth:`.Backend.ack_many`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if not items:
            return 0
        keys = self._queue(queue).ack
        args: list[Any] = [self._now_arg(), self.status_ttl]
        for pair in items:
            args += pair
        try:
            return int(self._eval(self._ack, keys, *args))
        except RedisError as err:
            raise self._error(f"acknowledge {len(items)} tasks of {queue!r}", err) from err

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        """See :meth:`.Backend.release`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        keys = self._queue(queue).release
        flag = "1" if attempted else "0"
        try:
            return bool(self._eval(self._release, keys, self._now_arg(), task_id, receipt, delay, flag))
        except RedisError as err:
            raise self._error(f"release task {task_id} of {queue!r}", err) from err

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        """See :meth:`.Backend.extend`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        return self.extend_many(queue, [(task_id, receipt)], lease_seconds)[0]

    def extend_many(self, queue: str, items: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """Extends many leases in one script; see :meth:`.Backend.extend_many`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if not items:
            return []
        keys = self._queue(queue).extend
        args: list[Any] = [self._now_arg(), lease_seconds]
        for pair in items:
            args += pair
        try:
            return [bool(kept) for kept in self._eval(self._extend, keys, *args)]
        except RedisError as err:
            raise self._error(f"extend {len(items)} leases in {queue!r}", err) from err

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        """See :meth:`.Backend.dead_letter`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        keys = self._queue(queue).dead_letter
        args = (self._now_arg(), self.status_ttl, task_id, receipt, reason)
        try:
            return bool(self._eval(self._dead_letter, keys, *args))
        except RedisError as err:
            raise self._error(f"dead-letter task {task_id} of {queue!r}", err) from err

    # -- inspecting and managing ----------------------------------------

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        """See :meth:`.Backend.get`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        keys = self._queue(queue).get
        try:
            reply = self._eval(self._get, keys, self._now_arg(), task_id, lease_seconds)
        except RedisError as err:
            raise self._error(f"get task {task_id} of {queue!r}", err) from err
        return Reservation(reply[0], reply[1], reply[2], reply[3]) if reply else None

    def cancel(self, queue: str, task_id: str) -> bool:
        """See :meth:`.Backend.cancel`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        keys = self._queue(queue).cancel
        try:
            return bool(self._eval(self._cancel, keys, self._now_arg(), task_id))
        except RedisError as err:
            raise self._error(f"cancel task {task_id} of {queue!r}", err) from err

    def status(self, queue: str, task_id: str) -> int | None:
        """See :meth:`.Backend.status`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        keys = self._queue(queue).status
        try:
            found = int(self._eval(self._status, keys, self._now_arg(), self.status_ttl, task_id))
        except RedisError as err:
            raise self._error(f"read the status of task {task_id} of {queue!r}", err) from err
        return None if found < 0 else found

    def len(self, queue: str) -> int:
        """See :meth:`.Backend.len`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        try:
            return int(self._eval(self._len, self._queue(queue).len, self._now_arg()))
        except RedisError as err:
            raise self._error(f"count the tasks of {queue!r}", err) from err

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """See :meth:`.Backend.dead_letters`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if limit <= 0:
            return []
        try:
            reply = self._eval(self._dead_letters, self._queue(queue).dead_letters, limit)
        except RedisError as err:
            raise self._error(f"list the dead letters of {queue!r}", err) from err
        return [
            DeadLetter(reply[i], reply[i + 1], reply[i + 2], int(reply[i + 3]), float(reply[i + 4]))
            for i in range(0, len(reply), 5)
        ]

    def requeue(self, queue: str, task_id: str) -> bool:
        """See :meth:`.Backend.requeue`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        keys = self._queue(queue).requeue
        try:
            return bool(self._eval(self._requeue, keys, self._now_arg(), task_id))
        except RedisError as err:
            raise self._error(f"requeue task {task_id} of {queue!r}", err) from err

    def drop_all(self, queue: str) -> None:
        """Deletes every key of the queue in one command; see :meth:`.Backend.drop_all`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        try:
            self._execute("DEL", *self._queue(queue).all)
        except RedisError as err:
            raise self._error(f"drop the queue {queue!r}", err) from err

    def close(self) -> None:
        """Closes the client's connections."""
        self.client.close()


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
    import inspect

    parameter = inspect.signature(pool.get_connection).parameters.get("command_name")
    return ("EVALSHA",) if parameter is not None and parameter.default is inspect.Parameter.empty else ()


def _describe(conn_string: str) -> str:
    """The DSN without its password, for messages."""
    try:
        parts = urlsplit(conn_string)
        if parts.password is None:
            return conn_string
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable DSN>"


def _socket_timeout(client: Client) -> float | None:
    pool = getattr(client, "connection_pool", None)
    if pool is None:  # a cluster client: its nodes share the options it was built with
        nodes = getattr(client, "nodes_manager", None)
        options = getattr(nodes, "connection_kwargs", {}) if nodes is not None else {}
    else:
        options = pool.connection_kwargs
    value = options.get("socket_timeout")
    return float(value) if value else None
