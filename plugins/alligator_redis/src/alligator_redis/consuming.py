"""Reserving, acking, releasing, extending and dead-lettering deliveries; waiting for work."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from alligator import reasons
from alligator.backend import (
    Reservation,
)
from alligator_redis.base import (
    FAKE_CLOCK_POLL,
    RedisBase,
    _check_seconds,
    _count,
    _short,
)
from alligator_redis.channels import NOTHING, UNREADABLE_MESSAGE, _next_message


class Consuming(RedisBase):
    """Reserving, acking, releasing, extending and dead-lettering deliveries; waiting for work."""

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks in one script; see :meth:`.Backend.reserve`.

        A due record the caller may not have (its payload over
        :attr:`~alligator.backend.Backend.max_payload_bytes` or its id over
        ``max_task_id_bytes``, either not UTF-8, or a stored count that
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
        """Waits until a task may be due in one of ``queues``.

        See :meth:`~.capabilities.Waking.wait_for_work`.


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
                reason = reasons.CORRUPT_REPLY % (_short(attempts), _short(failures))
            else:
                try:
                    out.append(
                        Reservation(task_id.decode(), payload.decode(), receipt.decode(), attempts, failures)
                    )
                except UnicodeDecodeError as err:
                    reason = f"{reasons.not_utf8(reasons.PAYLOAD)}: {err}"
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
