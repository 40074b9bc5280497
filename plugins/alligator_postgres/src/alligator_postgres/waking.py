"""Waiting without polling: ``LISTEN``/``NOTIFY`` wakes idle workers and those waiting for a result.

A trigger on ``alligator_tasks`` notifies the channel ``alligator_work``
with the queue's name whenever a row becomes waiting (a push, a release, a
requeue), and the statements that ack or dead-letter tasks notify
``alligator_done`` with theirs. PostgreSQL delivers a notification when its
transaction commits, never when it rolls back, so a task enqueued in the
application's own transaction wakes nobody before it exists.

A waiter holds a connection of its own that has run ``LISTEN``; it empties
what was delivered before, then looks (is anything due? has the task
finished?), then waits on the socket for the next notification naming one
of its queues, so a push between the look and the wait is never slept
through. The only timer is the end of the next delay or lease, which no
notification announces.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg

from alligator.backend import Finished
from alligator_postgres import queries
from alligator_postgres.store import Store

__all__ = ["Waking"]

# The longest queue name a notification carries (the trigger cuts it there).
_CHANNEL_NAME_CHARS = 2000


class Waking(Store):
    """:meth:`wait_for_work` and :meth:`wait_finished`; mixed into the backend."""

    blocking_reserve = True

    def _listening(self, conn: psycopg.Connection[Any]) -> None:
        """Runs ``LISTEN`` on both channels once per connection, then empties what was delivered."""
        known: weakref.WeakSet[psycopg.Connection[Any]] = self.__dict__.setdefault(
            "_listening_on", weakref.WeakSet()
        )
        if conn not in known:
            conn.execute(queries.LISTEN_WORK)
            conn.execute(queries.LISTEN_DONE)
            known.add(conn)
        for _ in conn.notifies(timeout=0.0):
            pass

    def _wait_for(self, conn: psycopg.Connection[Any], channel: str, names: set[str], seconds: float) -> bool:
        """Waits up to ``seconds`` for a notification on ``channel`` naming one of ``names``."""
        deadline = time.monotonic() + max(seconds, 0.0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for note in conn.notifies(timeout=left, stop_after=1):
                if note.channel == channel and note.payload in names:
                    return True

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Waits until a task may be due in one of ``queues``.

        See :meth:`~.capabilities.Waking.wait_for_work`.

        Returns True at once when one is due already; otherwise waits for a
        notification naming one of them, or for the next delay or lease of
        theirs to end, or the timeout.

        Raises:
            ValueError: ``timeout`` is NaN.
            BackendError: The server cannot be reached.
        """
        if timeout != timeout:
            raise ValueError("timeout must be a number of seconds, not nan")
        if not queues:
            time.sleep(min(max(timeout, 0.0), 0.1))
            return False
        names = {queue[:_CHANNEL_NAME_CHARS] for queue in queues}

        def wait(conn: psycopg.Connection[Any]) -> bool:
            self._listening(conn)
            row = conn.execute(queries.NEXT_DUE, {"queues": list(queues), "now": self._now_arg()}).fetchone()
            due_now, next_in = row if row is not None else (None, None)
            if due_now:
                return True
            seconds = max(timeout, 0.0)
            if next_in is not None and next_in < seconds:
                # Nothing notifies the end of a delay or a lease: wake for it.
                return self._wait_for(conn, "alligator_work", names, next_in) or True
            return self._wait_for(conn, "alligator_work", names, seconds)

        return bool(self._listen(wait))

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        """Waits up to ``timeout`` seconds for a task to finish, woken by its ack or dead letter.

        See :meth:`~alligator.capabilities.ResultWaiting.wait_finished`:
        listens first, then reads :meth:`finished` (so an outcome that came
        before is seen), then reads again after each notification for its
        queue.
        """
        if timeout != timeout:
            raise ValueError("timeout must be a number of seconds, not nan")
        deadline = time.monotonic() + max(timeout, 0.0)
        names = {queue[:_CHANNEL_NAME_CHARS]}

        def wait(conn: psycopg.Connection[Any]) -> Finished | None:
            self._listening(conn)
            while True:
                found = self.finished(queue, task_id)  # type: ignore[attr-defined]
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found  # type: ignore[no-any-return]
                self._wait_for(conn, "alligator_done", names, left)

        found: Finished | None = self._listen(wait)
        return found

    def _listen(self, body: Any) -> Any:
        try:
            with self._connection(listener=True) as conn:
                return body(conn)
        except psycopg.Error as err:
            raise self._error(err) from err
