"""The supervisor's loop: starts the children, reads their reports, restarts, drains, kills.

Standard library only: it runs in a bare interpreter (see :mod:`alligator.supervisor`).
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from . import metricsdir, protocol
from .children import Child, shutdown_timeout_in
from .processes import Process, describe_exit

log = logging.getLogger("alligator.supervisor")

#: Seconds a task may run past its time limit before its process is killed:
#: time for the exception raised in it to unwind its ``finally`` blocks.
DEFAULT_GRACE_SECONDS = 5.0
#: The children's ``--shutdown-timeout`` unless given (``workers.DEFAULT_SHUTDOWN_TIMEOUT``).
DEFAULT_SHUTDOWN_TIMEOUT = 25.0
#: A child that dies sooner than this after it started is "dying at start-up".
STARTUP_SECONDS = 10.0
#: First pause before restarting a child that died at start-up; it doubles
#: with each death in a row...
FIRST_RESTART_DELAY = 0.5
#: ...up to this many seconds.
MAX_RESTART_DELAY = 30.0
#: How often the supervisor looks at its children when nothing happens.
TICK_SECONDS = 0.2
#: After a second signal, seconds the children have to hand their tasks back before they are killed.
QUIT_SECONDS = 10.0
#: Seconds a child may live on after its pipe ended (it is exiting) before it is taken to have closed it.
EOF_GRACE_SECONDS = 2.0
#: latergator's exit status for a bad argument, DSN or setup module.
BAD_CONFIGURATION = 2
#: Kept for the children and the settling process: the pipe's variable (see :mod:`.protocol`).
CHILD_ENV = protocol.CHILD_ENV
#: glibc malloc arenas a worker process may use (``MALLOC_ARENA_MAX``), unless the environment says.
MALLOC_ARENAS = 2
METRICS_DIR_ENV = metricsdir.METRICS_DIR_ENV


class Supervisor:
    """Runs ``processes`` worker processes until told to stop.

    Example::

        from alligator.supervisor import Supervisor

        code = Supervisor(["redis://localhost:6379/0", "--allow", "myapp.tasks"], processes=4).run()

    Args:
        argv: The ``latergator`` arguments of every child, the DSN first. A
            child started by a supervisor ignores ``--processes``; give
            ``--max-tasks-per-child`` here rather than ``--max-tasks``.
        processes: How many children to keep running.
        max_tasks_per_child: Replace a child after it handled this many tasks (0: never).
        grace: Seconds past a task's time limit before its child is killed.
        python: The interpreter the children run (this one by default).
        metrics_port: Serve every child's metrics on this port (``--metrics-port``).
        shutdown_timeout: The children's ``--shutdown-timeout`` (by default
            read from ``argv``): a child told to stop that is still running
            this long plus ``grace`` after is killed.
        cpus: The CPU each slot's process pins itself to (``latergator``
            plans it: :func:`alligator.cpus.plan_pinning`); empty: none.
    """

    def __init__(
        self,
        argv: Sequence[str],
        processes: int = 1,
        max_tasks_per_child: int = 0,
        grace: float = DEFAULT_GRACE_SECONDS,
        python: str | None = None,
        metrics_port: int | None = None,
        shutdown_timeout: float | None = None,
        cpus: Sequence[int] = (),
    ) -> None:
        if shutdown_timeout is None:
            shutdown_timeout = shutdown_timeout_in(argv, DEFAULT_SHUTDOWN_TIMEOUT)
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes!r}")
        if max_tasks_per_child < 0:
            raise ValueError(f"max_tasks_per_child must be 0 (never) or more, not {max_tasks_per_child!r}")
        if grace < 0:
            raise ValueError(f"grace must be 0 or more, not {grace!r}")
        if shutdown_timeout < 0:
            raise ValueError(f"shutdown_timeout must be 0 or more, not {shutdown_timeout!r}")
        self.argv = list(argv)
        self.processes = processes
        self.max_tasks_per_child = max_tasks_per_child
        self.grace = grace
        self.shutdown_timeout = shutdown_timeout
        self.python = python or sys.executable
        self.metrics_port = metrics_port
        #: The CPU each slot's process pins itself to (none when empty; see alligator.cpus.plan_pinning).
        self.cpus = tuple(cpus)
        self._metrics: Process | None = None
        self._metrics_dir = ""
        self._children: dict[int, Child] = {}
        #: slot -> (monotonic time it may restart, consecutive start-up deaths)
        self._restart_at: dict[int, float] = {}
        self._startup_deaths: dict[int, int] = {}
        self._settlers: list[Process] = []
        self._signals: list[int] = []
        self._draining = False
        self._exit_code = 0
        self._selector = selectors.DefaultSelector()
        #: Passed on to the process that settles a killed task.
        self.log_level = "INFO"
        self.log_format = "text"
        #: What its start line says it runs, and why (``latergator`` sets it:
        #: ``"2 worker processes x 4 threads (2 CPUs usable: ...)"``).
        self.chosen = ""

    # -- the loop --------------------------------------------------------

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Acts as if ``signum`` was received: the first call drains, the second hands back and exits."""
        self._signals.append(signum)

    def run(self) -> int:
        """Starts the children and supervises them until they are stopped.

        Returns:
            0 after a drain (first SIGTERM/SIGINT), 128 + the signal's number
            after a second signal, 2 when a child refused its arguments at
            start-up (a bad argument, DSN or setup module: restarting cannot help).
        """
        restore = self._install_signal_handlers()
        handled = 0
        try:
            log.info(
                "supervisor %d starting %s%s; tasks past their time limit are killed after %.0fs of grace",
                os.getpid(),
                self.chosen or f"{self.processes} worker process{'es' if self.processes != 1 else ''}",
                f", each replaced after {self.max_tasks_per_child} task(s)"
                if self.max_tasks_per_child
                else "",
                self.grace,
            )
            if self.metrics_port is not None:
                self._start_metrics(self.metrics_port)
            for slot in range(self.processes):
                self._spawn(slot)
            while True:
                self._read(TICK_SECONDS)
                if len(self._signals) > handled:
                    handled = len(self._signals)
                    if handled >= 2:
                        return self._quit_all(self._signals[-1])
                    self._drain(self._signals[-1])
                self._enforce_limits()
                self._watch_pipes()
                self._reap()
                self._restart_due()
                self._reap_settlers()
                self._check_metrics()
                if self._draining and not self._children:
                    self._wait_settlers()
                    log.info("supervisor %d stopping: every worker process exited", os.getpid())
                    return self._exit_code
        finally:
            # Whatever ended the loop (an error of ours included), no child outlives it.
            for child in list(self._children.values()):
                child.proc.kill()
                child.proc.wait()
                self._close(child)
            self._stop_metrics()
            restore()
            self._selector.close()

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def on_signal(signum: int, frame: object) -> None:
            # Only recorded here; the loop acts on it within a tick.
            self._signals.append(signum)

        for sig in previous:
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _drain(self, signum: int | None) -> None:
        """Stops restarting and asks every child to finish; ``signum`` is the signal received, if any."""
        self._draining = True
        self._restart_at.clear()
        if signum is not None:
            log.info(
                "received %s; the worker processes finish the tasks in hand, handing back what is still "
                "running after %gs (send it again to hand everything back now)",
                signal.Signals(signum).name,
                self.shutdown_timeout,
            )
        for child in self._children.values():
            if child.cut_at is None:
                child.cut_at = time.monotonic()
            child.proc.send_signal(signal.SIGTERM)

    def _quit_all(self, signum: int) -> int:
        """The second signal: every child hands back its tasks and exits now; the stragglers are killed."""
        log.warning(
            "received %s again; the worker processes hand back their tasks and exit now",
            signal.Signals(signum).name,
        )
        for child in self._children.values():
            # SIGQUIT, not the same signal again: a child may get the first
            # one twice (from us and from systemd's KillMode=control-group).
            child.proc.send_signal(signal.SIGQUIT)
        deadline = time.monotonic() + QUIT_SECONDS
        for child in list(self._children.values()):
            if child.proc.wait(max(0.0, deadline - time.monotonic())) is None:
                log.warning(
                    "worker process %d (pid %d) did not exit within %gs; killing it: its tasks run again "
                    "once their leases end",
                    child.slot,
                    child.proc.pid,
                    QUIT_SECONDS,
                )
                child.proc.kill()
                child.proc.wait()
            self._close(child)
        self._children.clear()
        self._wait_settlers()
        return 128 + signum

    # -- one metrics endpoint for every child -------------------------------

    def _start_metrics(self, port: int) -> None:
        """Starts the process serving every child's metrics (prometheus_client's multiprocess mode).

        A process of its own: serving them here would import prometheus_client
        into the supervisor, which stays a bare interpreter. It watches this
        process and exits when it is gone, freeing the port.
        """
        self._metrics_dir = metricsdir.make()
        self._metrics = Process(
            [
                self.python,
                "-m",
                "alligator.metrics",
                str(port),
                self._metrics_dir,
                "127.0.0.1",
                str(os.getpid()),
            ],
            dict(os.environ),
        )
        log.info("serving every worker process's metrics on 127.0.0.1:%d/metrics", port)

    def _check_metrics(self) -> None:
        if self._metrics is None or self._metrics.poll() is None:
            return
        code = self._metrics.returncode
        self._metrics = None
        if self._draining:
            return
        log.error(
            "the metrics endpoint exited (%s; see its log above); stopping: --metrics-port cannot be served",
            describe_exit(code or 0),
        )
        self._exit_code = BAD_CONFIGURATION
        self._drain(None)

    def _stop_metrics(self) -> None:
        if self._metrics is not None:
            self._metrics.send_signal(signal.SIGTERM)
            if self._metrics.wait(10) is None:
                self._metrics.kill()
                self._metrics.wait()
            self._metrics = None
        if self._metrics_dir:
            metricsdir.remove(self._metrics_dir)
            self._metrics_dir = ""

    # -- children --------------------------------------------------------

    def _spawn(self, slot: int) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        env[protocol.CHILD_ENV] = f"{write_fd}:{os.getpid()}"
        env[protocol.SLOT_ENV] = str(slot)
        if self.cpus:
            # The child pins itself before it starts a thread; a restarted
            # child of this slot gets the same CPU.
            env[protocol.CPU_ENV] = str(self.cpus[slot % len(self.cpus)])
        # glibc gives each thread that allocates an arena of its own; a
        # worker's few threads (tasks, dispatch, acks, leases) rarely
        # allocate at once, and two arenas save each child ~1.5 MiB of RSS.
        # An operator's own setting wins.
        env.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENAS))
        command = [self.python, "-m", "alligator", *self.argv]
        if self.max_tasks_per_child:
            command += ["--max-tasks-per-child", str(self.max_tasks_per_child)]
        try:
            # A group of its own: a hard kill takes what its tasks started along.
            proc = Process(command, env, keep_fd=write_fd, own_group=True)
        except OSError as err:
            os.close(read_fd)
            os.close(write_fd)
            self._schedule_restart(slot, f"could not be started ({err})", startup=True)
            return
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        child = Child(slot, proc, read_fd)
        self._children[slot] = child
        self._selector.register(read_fd, selectors.EVENT_READ, child)
        log.info("worker process %d started (pid %d)", slot, proc.pid)

    def _schedule_restart(self, slot: int, what: str, startup: bool) -> None:
        if self._draining:
            return
        if startup:
            deaths = self._startup_deaths.get(slot, 0) + 1
            self._startup_deaths[slot] = deaths
            delay = min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2 ** (deaths - 1))
            log.error(
                "worker process %d %s (%d time(s) in a row; see its log above); restarting it in %.1fs",
                slot,
                what,
                deaths,
                delay,
            )
        else:
            self._startup_deaths.pop(slot, None)
            delay = 0.0
        self._restart_at[slot] = time.monotonic() + delay

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot, when in list(self._restart_at.items()):
            if when <= now and not self._draining:
                del self._restart_at[slot]
                self._spawn(slot)

    def _close(self, child: Child) -> None:
        try:
            self._selector.unregister(child.read_fd)
        except (KeyError, ValueError):
            pass
        try:
            os.close(child.read_fd)
        except OSError:
            pass

    # -- reports -----------------------------------------------------------

    def _read(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            child = key.data
            assert isinstance(child, Child)
            self._read_child(child)

    def _read_child(self, child: Child) -> None:
        if child.eof_at is None and child.read_reports():
            # The child closed its end: it is exiting, or a task closed it
            # (see _watch_pipes). Stop selecting on it.
            try:
                self._selector.unregister(child.read_fd)
            except (KeyError, ValueError):
                pass

    def _watch_pipes(self) -> None:
        """Kills a child whose pipe ended while it lives on, and a stopping child past its time.

        A child whose pipe ended (a task closed it) could not report the
        tasks it starts next, whose hard limits would then go unenforced. It
        is killed with its process group and replaced, as a crash is: its
        tasks come back when their leases end, and the delivery counts, so a
        task that closes the pipe every time is dead-lettered after
        ``--max-deliveries`` instead of cycling for ever (a hand-back would
        not count). A child told to stop that is still running
        ``shutdown_timeout`` plus the grace later is killed too.
        """
        now = time.monotonic()
        for child in self._children.values():
            if child.proc.poll() is not None:
                continue
            if child.eof_at is not None and now - child.eof_at > EOF_GRACE_SECONDS:
                log.error(
                    "worker process %d (pid %d) closed its pipe to the supervisor but is still running (a "
                    "task's doing?); the time limits of its next tasks could not be enforced: killing it "
                    "(its tasks run again once their leases end) and starting a new one",
                    child.slot,
                    child.proc.pid,
                )
                child.cut_at = float("inf")
                child.eof_at = None
                child.proc.kill()
            elif child.cut_at is not None and now - child.cut_at > self.shutdown_timeout + self.grace:
                log.error(
                    "worker process %d (pid %d) is still running %gs after it was told to stop; killing it: "
                    "its tasks run again once their leases end",
                    child.slot,
                    child.proc.pid,
                    self.shutdown_timeout + self.grace,
                )
                child.cut_at = float("inf")
                child.proc.kill()

    # -- limits and deaths -------------------------------------------------

    def _enforce_limits(self) -> None:
        now = time.monotonic()
        for child in self._children.values():
            if child.expired or child.proc.poll() is not None:
                continue
            child.expired = [
                running
                for running in child.running.values()
                if now - running.started > running.limit + self.grace
            ]
            for running in child.expired:
                log.error(
                    "task %s [%s] ran past its time limit of %gs and %gs of grace; killing worker "
                    "process %d (pid %d)",
                    running.function,
                    running.task_id,
                    running.limit,
                    self.grace,
                    child.slot,
                    child.proc.pid,
                )
            if child.expired:
                child.proc.kill()

    def _reap(self) -> None:
        for slot, child in list(self._children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            # Reports written just before it died are still in the pipe.
            self._read_child(child)
            self._close(child)
            del self._children[slot]
            if self._metrics_dir:
                metricsdir.mark_dead(self._metrics_dir, child.proc.pid)
            for running in child.expired:
                self._settle(running)
            self._after_exit(slot, child, code)

    def _after_exit(self, slot: int, child: Child, code: int) -> None:
        """Logs a child's exit and schedules its replacement, as the way it ended calls for."""
        uptime = time.monotonic() - child.started
        if self._draining:
            log.info("worker process %d (pid %d) %s", slot, child.proc.pid, describe_exit(code))
        elif child.expired:
            log.info("worker process %d killed for a time limit; starting a new one", slot)
            self._schedule_restart(slot, "", startup=False)
        elif child.cut_at is not None:
            # Replaced only now: its slot is its own until it is gone.
            log.info(
                "worker process %d (pid %d) that could not be watched %s; starting a new one",
                slot,
                child.proc.pid,
                describe_exit(code),
            )
            self._schedule_restart(slot, "", startup=False)
        elif code == 0:
            log.info(
                "worker process %d (pid %d) exited after its tasks%s; starting a new one",
                slot,
                child.proc.pid,
                f" (--max-tasks-per-child {self.max_tasks_per_child})" if self.max_tasks_per_child else "",
            )
            self._schedule_restart(slot, "", startup=False)
        elif code == BAD_CONFIGURATION and not child.up:
            log.error(
                "worker process %d refused its arguments (status 2: a bad argument, DSN or setup module; "
                "see its log above); stopping, since restarting cannot help",
                slot,
            )
            self._exit_code = BAD_CONFIGURATION
            self._drain(None)
        elif not child.up:
            self._schedule_restart(slot, f"{describe_exit(code)} at start-up", startup=True)
        elif uptime < STARTUP_SECONDS:
            # Up, then dead within seconds (a task that crashes it, again and
            # again): paused like a start-up death, so it cannot spin either.
            self._schedule_restart(
                slot, f"{describe_exit(code)} {uptime:.1f}s after it started", startup=True
            )
        else:
            log.warning(
                "worker process %d (pid %d) %s after %.0fs; its tasks run again once their leases end; "
                "starting a new one",
                slot,
                child.proc.pid,
                describe_exit(code),
                uptime,
            )
            self._schedule_restart(slot, "", startup=False)

    # -- settling tasks killed for their time limit ------------------------

    def _settle(self, running: protocol.Running) -> None:
        order = {
            "argv": self.argv,
            "queue": running.queue,
            "task_id": running.task_id,
            "receipt": running.receipt,
            "attempt": running.attempt,
            "reason": f"time limit of {running.limit:g} s exceeded; the process was killed",
            "log_level": self.log_level,
            "log_format": self.log_format,
        }
        try:
            proc = Process(
                [self.python, "-m", "alligator.supervisor", "--settle", json.dumps(order)], dict(os.environ)
            )
        except OSError as err:
            log.error(
                "could not settle task %s (%s); it runs again once its lease ends", running.task_id, err
            )
            return
        self._settlers.append(proc)

    def _reap_settlers(self) -> None:
        for proc in list(self._settlers):
            code = proc.poll()
            if code is not None:
                self._settlers.remove(proc)
                if code:
                    log.error("settling a killed task failed (%s); it runs again once its lease ends", code)

    def _wait_settlers(self) -> None:
        for proc in self._settlers:
            if proc.wait(60) is None:
                proc.kill()
                proc.wait()
        self._reap_settlers()
