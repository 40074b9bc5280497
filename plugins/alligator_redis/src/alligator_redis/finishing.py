"""Results of finished tasks: acks that keep a result, reading them, waiting for a finish."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from alligator import reasons
from alligator.backend import (
    Ack,
    Finished,
    check_window,
)
from alligator.constants import FAILED, SUCCESS
from alligator_redis.base import (
    RedisBase,
    _check_seconds,
    _number,
)
from alligator_redis.channels import _announced


class Finishing(RedisBase):
    """Results of finished tasks: acks that keep a result, reading them, waiting for a finish."""

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        """Acks many tasks and keeps their results, in one script.

        See :meth:`~.capabilities.Results.ack_results`.


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
        """Reads a finished task's outcome in one script; see :meth:`~.capabilities.Results.finished`.

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
                result = reasons.decode(reasons.RESULT, len(value), value, None)
            except reasons.Unreadable as unreadable:
                reason = str(unreadable)
        return Finished(task_id, SUCCESS, result, reason, finished_at)

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks in one script.

        See :meth:`~.capabilities.ResultListing.succeeded`.


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
            As :meth:`~alligator.capabilities.ResultWaiting.wait_finished`.

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
