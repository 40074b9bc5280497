"""How a :class:`~alligator.workers.Worker` stops: signals, the shutdown timeout, a supervisor's death.

The worker's calling thread runs no task: every ``TICK_SECONDS`` it looks at
the signals received (noted by the handler, never acted on there: the thread
may hold any lock when one lands), at its parent process when a supervisor
started it, and at how long a stop has been waiting. A first SIGTERM or
SIGINT stops taking work and waits for the tasks in hand, saying which; a
second one (or SIGQUIT, or the shutdown timeout) hands every task in hand
back to the queue at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from alligator.text import printable
from alligator.verdicts import HandBack

if TYPE_CHECKING:  # pragma: no cover
    from alligator import presence
    from alligator.backend import Reservation
    from alligator.settler import Settler

log = logging.getLogger("alligator.worker")

#: How often the main thread looks at signals, the shutdown timeout and the parent process.
TICK_SECONDS = 0.2
#: While a stopping worker waits for its tasks, it says which every this many seconds.
WAITING_LOG_SECONDS = 10.0


class Stopping:
    """The stopping half of :class:`~alligator.workers.Worker` (a mixin: the state is the worker's)."""

    shutdown_timeout: float | None
    parent_pid: int | None
    exit_status: int
    abandoned: bool
    _cond: threading.Condition
    _stopping: threading.Event
    settler: Settler
    _running: dict[int, presence.RunningTask]
    _in_hand: dict[int, tuple[str, Reservation, float]]
    _signals: list[int]
    _signals_seen: int
    _stop_began: float | None
    _waiting_logged: float

    def stop(self) -> None:  # pragma: no cover - the worker's
        raise NotImplementedError

    def _hand_back_buffered(self, older_than: float | None = None) -> int:  # pragma: no cover
        raise NotImplementedError

    def _tick(self) -> None:
        """The main thread's round: signals, the supervisor's death, the shutdown timeout."""
        while len(self._signals) > self._signals_seen and not self.abandoned:
            self._signals_seen += 1
            self._on_signal(self._signals[self._signals_seen - 1])
        if self.abandoned:
            return
        if self.parent_pid is not None and not self._stopping.is_set() and os.getppid() != self.parent_pid:
            log.error(
                "the supervisor (pid %d) is gone, so nobody enforces hard time limits or restarts this "
                "process; stopping: %s",
                self.parent_pid,
                self._describe_in_hand(),
            )
            self.stop()
        now = time.monotonic()
        if self._stopping.is_set() and self._stop_began is None:
            self._stop_began = self._waiting_logged = now
        if self._stop_began is None:
            return
        with self._cond:
            in_hand = bool(self._in_hand)
        if not in_hand:
            return
        if self.shutdown_timeout is not None and now - self._stop_began >= self.shutdown_timeout:
            log.warning(
                "tasks still running %gs after the worker was told to stop (the shutdown timeout); "
                "handing them back to the queue",
                self.shutdown_timeout,
            )
            self._give_up(None)
        elif now - self._waiting_logged >= WAITING_LOG_SECONDS:
            self._waiting_logged = now
            log.info("stopping: still %s", self._describe_in_hand())

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stop_began is None:
            self._stop_began = self._waiting_logged = time.monotonic()
        if signum == signal.SIGQUIT or (self._signals_seen > 1 and self.parent_pid is None):
            log.warning("received %s%s; handing back the tasks in hand now", name, self._again(signum))
            self._give_up(signum)
        elif self._signals_seen > 1:
            # A child may get the first signal twice (from its supervisor and
            # from systemd's KillMode=control-group): only SIGQUIT hurries it.
            log.info(
                "received %s again; still %s (under a supervisor, SIGQUIT or a second signal to the "
                "supervisor hands them back now)",
                name,
                self._describe_in_hand(),
            )
        else:
            log.info(
                "received %s; %s%s",
                name,
                self._describe_in_hand(),
                f" (send {name} again to hand them back now)" if self.parent_pid is None else "",
            )

    def _again(self, signum: int) -> str:
        return " again" if self._signals.count(signum) > 1 else ""

    def _describe_in_hand(self) -> str:
        """What a stopping worker waits for: each task, its function and how long it has run."""
        now = time.monotonic()
        with self._cond:
            tasks = [
                (self._running.get(ident), reservation.task_id, now - started)
                for ident, (_, reservation, started) in self._in_hand.items()
            ]
        if not tasks:
            return "no task in hand"
        listed = ", ".join(
            f"{printable(running.function if running is not None else '?', 200)} "
            f"[{printable(task_id, 100)}] running {seconds:.0f}s"
            for running, task_id, seconds in tasks[:10]
        )
        more = f" and {len(tasks) - 10} more" if len(tasks) > 10 else ""
        if self.shutdown_timeout is None:
            until = "waiting for them however long they take"
        else:
            left = self.shutdown_timeout - (now - (self._stop_began or now))
            until = f"handing back what still runs in {max(left, 0.0):.0f}s"
        return f"finishing {len(tasks)} task(s) in hand: {listed}{more}; {until}"

    def _give_up(self, signum: int | None) -> None:
        """Hands every task in hand back to the queue now (due at once, uncounted); the worker then stops.

        The threads running them are left behind (daemon threads: a task
        blocked in C cannot be stopped from Python); ``latergator`` exits the
        process right after.
        """
        self._stopping.set()
        self.exit_status = 128 + signum if signum is not None else 0
        self._hand_back_buffered()
        # Finished tasks are acked first: they must not run again.
        self.settler.flush(final=True)
        now = time.monotonic()
        with self._cond:
            items = [(self._running.get(ident), *held) for ident, held in self._in_hand.items()]
            self._in_hand.clear()
        for running, queue, reservation, started in items:
            what = f"{running.function if running is not None else '?'} [{printable(reservation.task_id)}]"
            try:
                self.settler.apply(HandBack(queue, reservation.task_id, reservation.receipt))
            except Exception as err:
                log.error("could not hand back task %s: %s; it runs again once its lease ends", what, err)
                continue
            log.warning(
                "handed back task %s after %.0fs running; it is due again at once", what, now - started
            )
        self.abandoned = True
