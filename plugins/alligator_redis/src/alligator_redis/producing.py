"""Pushing tasks: one script per push, the hot path packed once per queue, batches pipelined."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError, RedisError

from alligator.priority_store import check_items
from alligator_redis.base import (
    RedisBase,
    _bulk,
    _check_seconds,
)

#: Items per script call in :meth:`~alligator_redis.RedisBackend.push_many`. A long script
#: blocks every other client of the server while it runs, and Lua's unpack()
#: takes a few thousand values at most.
PUSH_CHUNK = 1000


class Producing(RedisBase):
    """Pushing tasks: one script per push, the hot path packed once per queue, batches pipelined."""

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        """Adds a task; one EVALSHA round trip. See :meth:`.Backend.push`.

        Raises:
            ValueError: ``delay`` is NaN or infinite, or a string has a lone
                surrogate; nothing was queued.
            BackendError: Redis cannot be reached; nothing was queued.
        """
        if delay:
            _check_seconds(delay, "delay")
        clock = self.clock
        now = "" if clock is None else repr(float(clock()))
        try:
            if self._direct:
                try:
                    return self._push_direct(queue, now, task_id, payload, delay)
                except (redis.ConnectionError, redis.TimeoutError):
                    # A connection gone stale (Redis restarted): the client's
                    # own path reconnects and retries as configured.
                    pass
            try:
                return bool(self._execute(*self._push_head(queue), now, task_id, payload, delay))
            except NoScriptError:
                return bool(self._run(self._push, queue, now, task_id, payload, delay))
        except RedisError as err:
            raise self._error(f"queue task {task_id} on {queue!r} (it was not queued)", err) from err

    def _push_head(self, queue: str) -> tuple[Any, ...]:
        keys = self._queue(queue).of["push"]
        return ("EVALSHA", self._push.sha, len(keys), *keys)

    def _push_direct(self, queue: str, now: str, task_id: str, payload: str, delay: float) -> bool:
        """The producer's hot path on a plain client: the constant start of
        the EVALSHA command (name, SHA, key names) is packed once per queue,
        and the command goes straight down a connection of the producer's own
        (see :class:`~alligator_redis.held.HeldConnection`); a thread that finds it busy
        takes one from the client's pool instead."""
        head = self._push_packed.get(queue)
        if head is None:
            parts = self._push_head(queue)
            head = self._push_packed.setdefault(
                queue, b"*%d\r\n" % (len(parts) + 4) + b"".join(_bulk(str(p).encode()) for p in parts)
            )
        # Encoded before a connection is taken: a string UTF-8 cannot encode
        # raises here, with nothing sent.
        when, key, body = now.encode(), task_id.encode(), payload.encode()
        pause = b"%r" % delay if delay else b"0"
        data = b"%b$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
            head,
            len(when),
            when,
            len(key),
            key,
            len(body),
            body,
            len(pause),
            pause,
        )
        try:
            reply = self._held.call(data)
        except NoScriptError:
            return bool(self._run(self._push, queue, now, task_id, payload, delay))
        return bool(reply == 1)

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds many tasks in one round trip (a pipeline of scripts of up to
        :data:`~alligator_redis.producing.PUSH_CHUNK` tasks each). See :meth:`.Backend.push_many`.

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

    def push_prioritized(self, queue: str, items: Sequence[tuple[str, str, float, int]]) -> int:
        """Adds tasks with their priorities in one round trip, as :meth:`push_many` does.

        Scripts of up to :data:`~alligator_redis.producing.PUSH_CHUNK` tasks,
        pipelined. See :class:`~alligator.priority_store.TaskPriority`. A task whose
        priority is 0 goes where :meth:`push` puts it; any other waits in the
        queue's ``ranked_pending`` until due (see :mod:`alligator_redis.keys`).

        Raises:
            ValueError: A delay is NaN or infinite, or a priority out of
                range; nothing was queued.
            TypeError: A priority is not an int; nothing was queued.
            BackendError: Redis cannot be reached; tasks may or may not have
                been queued (pushing them again is safe: ids are unique).
        """
        check_items(items)
        if not items:
            return 0
        keys = self._queue(queue).of["push_prioritized"]
        now = self._now_arg()
        chunks = []
        for start in range(0, len(items), PUSH_CHUNK):
            args: list[Any] = [now]
            for task_id, payload, delay, priority in items[start : start + PUSH_CHUNK]:
                args += (task_id, payload, repr(float(delay)), priority)
            chunks.append(args)
        with self._translated("queue {} tasks on {!r}", len(items), queue):
            if len(chunks) == 1:
                return int(self._eval(self._push_prioritized, keys, *chunks[0]))
            return self._push_pipelined(keys, chunks, self._push_prioritized)

    def _push_pipelined(self, keys: tuple[str, ...], chunks: list[list[Any]], script: Any = None) -> int:
        script = script or self._push_many
        pipe = self.client.pipeline(transaction=False)
        for args in chunks:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        results = pipe.execute(raise_on_error=False)
        added = 0
        for args, result in zip(chunks, results, strict=True):
            if isinstance(result, NoScriptError):
                # Pushing again is safe: the ids already queued are skipped.
                result = self._eval(script, keys, *args)
            elif isinstance(result, Exception):
                raise result
            added += int(result)
        return added
