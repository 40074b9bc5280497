"""``latergator --processes N``: a supervisor that keeps N worker processes running.

Example::

    $ latergator redis://localhost:6379/0 --allow myapp.tasks --processes 4 --concurrency 8

The supervisor starts N children, each an ordinary ``latergator`` worker
(``python -m alligator`` with the same arguments, so ``--path``, ``--setup``,
``--concurrency``, logging and everything else apply in each), and then:

* restarts a child that dies, at once if it had been running a while, after
  a growing pause (up to :data:`MAX_RESTART_DELAY`) if it keeps dying at
  start-up, and says so in its log;
* passes SIGTERM/SIGINT on: the first lets the children finish the tasks in
  hand, and the supervisor exits 0 once they have; a second one kills them
  at once (their tasks go back to the queue when their leases end; nothing
  is lost) and exits 128 + the signal's number;
* with ``--max-tasks-per-child N``, lets each child exit after N tasks (the
  worker's ``max_tasks``) and starts a fresh one in its place;
* enforces hard time limits: every child reports each task it starts and
  finishes over a pipe; a task still running :data:`DEFAULT_GRACE_SECONDS`
  after its time limit (the worker's own exception was ignored: the task is
  blocked in C code, or swallowed it) gets its child SIGKILLed, and is
  settled as a failure, "time limit of S s exceeded; the process was
  killed", through the same rules as any failure (a retry after its backoff
  while it has retries left, else the dead letters), so it is not handed
  out again and again as a crash.

The supervisor holds no task and imports no task code. Started from the
command line it replaces itself (``exec``) with a bare interpreter running
this file, importing nothing but the standard library, so it costs ~12 MiB
whatever the children import. Settling a killed task needs the queue store:
a short-lived ``python -m alligator.supervisor --settle`` process does that.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    import alligator.workers
    from alligator.events import TaskEvent

log = logging.getLogger("alligator.supervisor")

#: Seconds a task may run past its time limit before its process is killed:
#: time for the exception raised in it to unwind its ``finally`` blocks.
DEFAULT_GRACE_SECONDS = 5.0
#: A child that dies sooner than this after it started is "dying at start-up".
STARTUP_SECONDS = 10.0
#: First pause before restarting a child that died at start-up; it doubles
#: with each death in a row...
FIRST_RESTART_DELAY = 0.5
#: ...up to this many seconds.
MAX_RESTART_DELAY = 30.0
#: How often the supervisor looks at its children when nothing happens.
TICK_SECONDS = 0.2
#: The environment variable that tells a child which pipe to report on.
CHILD_ENV = "ALLIGATOR_SUPERVISOR"
#: prometheus_client's multiprocess directory, set for the children under --metrics-port.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: latergator's exit status for a bad argument, DSN or setup module.
BAD_CONFIGURATION = 2


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class _Process:
    """A process started with ``posix_spawn``: what the supervisor needs of ``subprocess.Popen``.

    ``subprocess`` would cost the supervisor 1.6 MiB of its ~12.
    """

    __slots__ = ("pid", "returncode")

    def __init__(self, argv: list[str], env: dict[str, str], keep_fd: int | None = None) -> None:
        if keep_fd is not None:
            # Inherited by this child only: the supervisor starts one process at a
            # time, and closes its copy of the fd right after.
            os.set_inheritable(keep_fd, True)
        try:
            self.pid = os.posix_spawn(argv[0], argv, env)
        finally:
            if keep_fd is not None:
                os.set_inheritable(keep_fd, False)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 255 << 8
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Waits for the exit; returns the status, or None if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Sends ``signum`` unless the process was already reaped."""
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILLs it."""
        self.send_signal(signal.SIGKILL)


class _Running:
    """A task a child said it started."""

    __slots__ = ("attempt", "function", "limit", "queue", "receipt", "started", "task_id")

    def __init__(self, message: dict[str, Any], now: float) -> None:
        self.queue = str(message.get("q", ""))
        self.task_id = str(message.get("t", ""))
        self.receipt = str(message.get("r", ""))
        self.attempt = int(message.get("a", 1))
        self.function = str(message.get("f", ""))
        limit = message.get("l")
        self.limit = float(limit) if limit else None
        self.started = now


class _Child:
    """One worker process and what it reported."""

    __slots__ = ("buffer", "expired", "proc", "read_fd", "running", "slot", "started", "up")

    def __init__(self, slot: int, proc: _Process, read_fd: int) -> None:
        self.slot = slot
        self.proc = proc
        self.read_fd = read_fd
        self.buffer = b""
        self.started = time.monotonic()
        self.up = False
        self.running: dict[tuple[str, str], _Running] = {}
        #: Tasks past their hard limit, for which the child was killed.
        self.expired: list[_Running] = []


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
    """

    def __init__(
        self,
        argv: Sequence[str],
        processes: int = 1,
        max_tasks_per_child: int = 0,
        grace: float = DEFAULT_GRACE_SECONDS,
        python: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes!r}")
        if max_tasks_per_child < 0:
            raise ValueError(f"max_tasks_per_child must be 0 (never) or more, not {max_tasks_per_child!r}")
        if grace < 0:
            raise ValueError(f"grace must be 0 or more, not {grace!r}")
        self.argv = list(argv)
        self.processes = processes
        self.max_tasks_per_child = max_tasks_per_child
        self.grace = grace
        self.python = python or sys.executable
        self.metrics_port = metrics_port
        self._metrics: _Process | None = None
        self._metrics_dir = ""
        self._children: dict[int, _Child] = {}
        #: slot -> (monotonic time it may restart, consecutive start-up deaths)
        self._restart_at: dict[int, float] = {}
        self._startup_deaths: dict[int, int] = {}
        self._settlers: list[_Process] = []
        self._signals: list[int] = []
        self._draining = False
        self._exit_code = 0
        self._selector = selectors.DefaultSelector()
        #: Passed on to the process that settles a killed task.
        self.log_level = "INFO"
        self.log_format = "text"

    # -- the loop --------------------------------------------------------

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Acts as if ``signum`` was received: the first call drains, the second kills."""
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
                "supervisor %d starting %d worker process(es)%s; tasks past their time limit are killed "
                "after %.0fs of grace",
                os.getpid(),
                self.processes,
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
                # After the wait, before reaping: a child that exited on a signal sent to the
                # whole process group (Ctrl-C, ``timeout``) must not be restarted.
                if len(self._signals) > handled:
                    handled = len(self._signals)
                    if handled >= 2:
                        return self._kill_all(self._signals[-1])
                    self._drain(self._signals[-1])
                self._enforce_limits()
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
                if child.proc.poll() is None:
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
                "received %s; the worker processes finish the tasks in hand (send it again to stop at once)",
                signal.Signals(signum).name,
            )
        for child in self._children.values():
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)

    def _kill_all(self, signum: int) -> int:
        log.warning(
            "received %s again; killing the worker processes: their tasks run again once their leases end",
            signal.Signals(signum).name,
        )
        for child in self._children.values():
            if child.proc.poll() is None:
                child.proc.kill()
        for child in list(self._children.values()):
            child.proc.wait()
            self._close(child)
        self._children.clear()
        self._wait_settlers()
        return 128 + signum

    # -- one metrics endpoint for every child -------------------------------

    def _start_metrics(self, port: int) -> None:
        """Starts the process serving every child's metrics (prometheus_client's multiprocess mode).

        A process of its own: serving them here would import prometheus_client
        into the supervisor, which stays a bare interpreter.
        """
        import tempfile

        self._metrics_dir = tempfile.mkdtemp(prefix="alligator-metrics-")
        # Every child started from now on writes its values there.
        os.environ[METRICS_DIR_ENV] = self._metrics_dir
        self._metrics = _Process(
            [self.python, "-m", "alligator.metrics", str(port), self._metrics_dir], dict(os.environ)
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
            _describe_exit(code or 0),
        )
        self._exit_code = BAD_CONFIGURATION
        self._drain(None)

    def _forget_metrics_of(self, pid: int) -> None:
        """Drops a dead child's live gauges (tasks in progress), as prometheus_client's mark_process_dead."""
        if not self._metrics_dir:
            return
        import glob

        for path in glob.glob(os.path.join(self._metrics_dir, f"gauge_live*_{pid}.db")):
            try:
                os.remove(path)
            except OSError:
                pass

    def _stop_metrics(self) -> None:
        if self._metrics is not None:
            self._metrics.send_signal(signal.SIGTERM)
            if self._metrics.wait(10) is None:
                self._metrics.kill()
                self._metrics.wait()
            self._metrics = None
        if self._metrics_dir:
            import shutil

            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            os.environ.pop(METRICS_DIR_ENV, None)
            self._metrics_dir = ""

    # -- children --------------------------------------------------------

    def _spawn(self, slot: int) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        env[CHILD_ENV] = f"{write_fd}:{os.getpid()}"
        command = [self.python, "-m", "alligator", *self.argv]
        if self.max_tasks_per_child:
            command += ["--max-tasks-per-child", str(self.max_tasks_per_child)]
        try:
            proc = _Process(command, env, keep_fd=write_fd)
        except OSError as err:
            os.close(read_fd)
            os.close(write_fd)
            self._schedule_restart(slot, f"could not be started ({err})", startup=True)
            return
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        child = _Child(slot, proc, read_fd)
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

    def _close(self, child: _Child) -> None:
        try:
            self._selector.unregister(child.read_fd)
        except (KeyError, ValueError):
            pass
        try:
            os.close(child.read_fd)
        except OSError:
            pass

    def _read(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            child = key.data
            assert isinstance(child, _Child)
            self._read_child(child)

    def _read_child(self, child: _Child) -> None:
        while True:
            try:
                data = os.read(child.read_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                # The child closed its end (it exited): stop selecting on it.
                try:
                    self._selector.unregister(child.read_fd)
                except (KeyError, ValueError):
                    pass
                return
            child.buffer += data
            *lines, child.buffer = child.buffer.split(b"\n")
            for line in lines:
                self._on_message(child, line)

    def _on_message(self, child: _Child, line: bytes) -> None:
        try:
            message = json.loads(line)
            kind = message["e"]
        except (ValueError, TypeError, KeyError):
            log.warning("worker process %d sent an unreadable report: %r", child.slot, line[:200])
            return
        if kind == "up":
            child.up = True
        elif kind == "started":
            running = _Running(message, time.monotonic())
            child.running[(running.task_id, running.receipt)] = running
        elif kind == "finished":
            child.running.pop((str(message.get("t", "")), str(message.get("r", ""))), None)

    def _enforce_limits(self) -> None:
        now = time.monotonic()
        for child in self._children.values():
            if child.expired or child.proc.poll() is not None:
                continue
            child.expired = [
                running
                for running in child.running.values()
                if running.limit is not None and now - running.started > running.limit + self.grace
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
            self._forget_metrics_of(child.proc.pid)
            uptime = time.monotonic() - child.started
            for running in child.expired:
                self._settle(running)
            if self._draining:
                log.info("worker process %d (pid %d) %s", slot, child.proc.pid, _describe_exit(code))
            elif child.expired:
                log.info("worker process %d killed for a time limit; starting a new one", slot)
                self._schedule_restart(slot, "", startup=False)
            elif code == 0:
                log.info(
                    "worker process %d (pid %d) exited after its tasks%s; starting a new one",
                    slot,
                    child.proc.pid,
                    f" (--max-tasks-per-child {self.max_tasks_per_child})"
                    if self.max_tasks_per_child
                    else "",
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
                self._schedule_restart(slot, f"{_describe_exit(code)} at start-up", startup=True)
            elif uptime < STARTUP_SECONDS:
                # Up, then dead within seconds (a task that crashes it, again and
                # again): paused like a start-up death, so it cannot spin either.
                self._schedule_restart(
                    slot, f"{_describe_exit(code)} {uptime:.1f}s after it started", startup=True
                )
            else:
                log.warning(
                    "worker process %d (pid %d) %s after %.0fs; its tasks run again once their leases end; "
                    "starting a new one",
                    slot,
                    child.proc.pid,
                    _describe_exit(code),
                    uptime,
                )
                self._schedule_restart(slot, "", startup=False)

    # -- settling tasks killed for their time limit ------------------------

    def _settle(self, running: _Running) -> None:
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
            proc = _Process(
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


def settle_killed(order: dict[str, Any]) -> str:
    """Settles a task whose process was killed for its time limit, as a failure.

    Runs in the short-lived ``python -m alligator.supervisor --settle``
    process: the supervisor itself never opens the store. The failure goes
    through the delivery steps' own rules, so the task is retried after its
    backoff while it has retries left and dead-lettered after, like a task
    that raised; its kill is not counted as a crash.

    Args:
        order: ``argv`` (the children's arguments), ``queue``, ``task_id``,
            ``receipt``, ``attempt`` and ``reason``.

    Returns:
        The outcome (an ``Outcome`` value), or ``"gone"`` when the task had
        already left the queue.
    """
    from alligator.backend import Reservation
    from alligator.cli import add_import_paths, build_parser, run_setup
    from alligator.delivery import DeliveryRules, DeliverySteps
    from alligator.exceptions import TimeLimitExceeded
    from alligator.gator import Gator

    args = build_parser().parse_args(order["argv"])
    # As in the children: a setup module may set ALLIGATOR_ALLOW or the secret
    # the payload is opened with (the task's own code is never imported).
    add_import_paths(args.path)
    if args.setup:
        run_setup(args.setup)
    queue, task_id = order["queue"], order["task_id"]
    gator = Gator(args.dsn, queue_name=queue, allow=args.allow, max_payload_bytes=args.max_payload_bytes)
    try:
        payload = gator.backend.peek(queue, task_id)
        if payload is None:
            return "gone"
        attempt = int(order["attempt"])
        # The child admitted this delivery before it ran it: count the earlier
        # ones as failures, so the unfinished-deliveries cap is not tripped here.
        reservation = Reservation(task_id, payload, order["receipt"], attempt, max(0, attempt - 1))
        steps = DeliverySteps(
            gator.backend, queue, DeliveryRules(gator.policy, args.max_deliveries, gator.task_class)
        )
        delivery = steps.open(reservation)
        if not delivery.settled:
            assert delivery.task is not None
            delivery.duration = 0.0
            error = TimeLimitExceeded(order["reason"])
            delivery.task.exception = error
            try:
                # The rules a task that raised goes through: retry with
                # backoff while it has retries left, else the dead letters.
                steps._failed(delivery, _no_function, error)
            except BaseException as exc:
                steps._end_on(delivery, exc)
        return delivery.outcome.value if delivery.outcome is not None else "unsettled"
    finally:
        gator.backend.close()


def _no_function() -> None:  # pragma: no cover - never called, only inspected
    """Stands in for the task's function, which the settling process does not import."""


# -- in the child ----------------------------------------------------------


def child_channel() -> int | None:
    """Returns the pipe a supervisor gave this process to report on, or None.

    The variable is taken out of the environment, so processes a task
    starts do not inherit it; it is honoured only from the parent that set it.
    """
    spec = os.environ.pop(CHILD_ENV, "")
    fd_text, _, parent = spec.partition(":")
    if not fd_text.isdigit() or not parent.isdigit() or int(parent) != os.getppid():
        return None
    return int(fd_text)


def report_events(worker: alligator.workers.Worker, fd: int) -> None:
    """Reports the worker's start, and each task with a time limit as it starts and finishes, on ``fd``.

    One JSON line each. Tasks without a time limit are not reported: the
    supervisor has nothing to watch in them, and tiny tasks run by the
    thousand a second would only make it busy.
    """
    from alligator.events import STARTED

    lock = threading.Lock()
    watched: set[tuple[str, str]] = set()

    def send(message: dict[str, Any]) -> None:
        # Under the lock: lines of two threads must not interleave.
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BrokenPipeError:
                return  # the supervisor is gone; the worker goes on as a plain one

    def on_event(event: TaskEvent) -> None:
        key = (event.task_id, event.receipt)
        with lock:
            if event.kind == STARTED:
                if event.time_limit is None:
                    return
                watched.add(key)
                send(
                    {
                        "e": "started",
                        "q": event.queue,
                        "t": event.task_id,
                        "r": event.receipt,
                        "a": event.attempt,
                        "l": event.time_limit,
                        "f": event.function,
                    }
                )
            elif key in watched:
                watched.discard(key)
                send({"e": "finished", "t": event.task_id, "r": event.receipt})

    worker.add_listener(on_event)
    with lock:
        send({"e": "up", "pid": os.getpid()})


# -- from the command line ---------------------------------------------------


def run_from_command(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str], replace: bool
) -> int:
    """Runs ``latergator ... --processes N`` as a supervisor.

    Args:
        parser: latergator's parser (for its errors).
        args: The parsed arguments.
        argv: The arguments as given; each child gets them as they are (a
            child started by a supervisor runs as a worker, ignoring
            ``--processes``, and takes ``--max-tasks-per-child`` as its
            ``--max-tasks``).
        replace: Replace this process (``exec``) with a bare interpreter
            running the supervisor, so it does not carry what latergator
            imported; False when called from Python (tests).

    Returns:
        The supervisor's exit status.
    """
    if args.max_tasks:
        parser.error("--max-tasks counts one worker's tasks; with --processes use --max-tasks-per-child")
    processes = args.processes if args.processes is not None else 1
    own = ["--processes", str(processes), "--log-level", args.log_level, "--log-format", args.log_format]
    if args.max_tasks_per_child:
        own += ["--max-tasks-per-child", str(args.max_tasks_per_child)]
    metrics_port = getattr(args, "metrics_port", None)
    if metrics_port is not None:
        own += ["--metrics-port", str(metrics_port)]
    # Each child gets the arguments as given: under a supervisor latergator
    # runs as a worker, ignoring --processes.
    children = list(argv)
    here = os.path.abspath(__file__)
    if replace and sys.executable and os.path.isfile(here):
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execv(sys.executable, [sys.executable, "-I", "-S", here, *own, "--", *children])
        except OSError as err:  # pragma: no cover - then it supervises from here, only bigger
            print(
                f"latergator: could not start a bare supervisor ({err}); supervising from here",
                file=sys.stderr,
            )
    supervisor = Supervisor(children, processes, args.max_tasks_per_child, metrics_port=metrics_port)
    supervisor.log_level, supervisor.log_format = args.log_level, args.log_format
    from alligator import logs

    logs.configure(args.log_level, args.log_format)
    return supervisor.run()


def _configure_logging(level: str, log_format: str) -> None:
    """latergator's log formats, without importing the package (logs.py needs only the standard library)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_alligator_logs", os.path.join(os.path.dirname(os.path.abspath(__file__)), "logs.py")
    )
    assert spec is not None and spec.loader is not None
    logs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(logs)
    logs.configure(level, log_format)


def main(argv: Sequence[str] | None = None) -> int:
    """The supervisor's own command line, as latergator starts it.

    ``[--processes N] [--max-tasks-per-child N] [--log-level L] [--log-format F] -- CHILD ARGS...``,
    or ``--settle ORDER`` (a JSON object: see :func:`settle_killed`). Parsed by
    hand: argparse would cost the supervisor memory for a line only latergator writes.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--settle"]:
        from alligator import logs

        order = json.loads(args[1])
        logs.configure(order.get("log_level", "INFO"), order.get("log_format", "text"))
        outcome = settle_killed(order)
        log.info("task %s, killed for its time limit, settled: %s", order["task_id"], outcome)
        return 0
    split = args.index("--") if "--" in args else len(args)
    own = dict(zip(args[:split:2], args[1:split:2], strict=True))
    _configure_logging(own.get("--log-level", "INFO"), own.get("--log-format", "text"))
    supervisor = Supervisor(
        args[split + 1 :],
        int(own.get("--processes", "1")),
        int(own.get("--max-tasks-per-child", "0")),
        metrics_port=int(own["--metrics-port"]) if "--metrics-port" in own else None,
    )
    supervisor.log_level = own.get("--log-level", "INFO")
    supervisor.log_format = own.get("--log-format", "text")
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
