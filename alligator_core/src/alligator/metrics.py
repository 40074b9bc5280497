"""Prometheus metrics of a worker: what it ran, how it ended, how long it took.

Needs the ``metrics`` extra (``pip install './alligator_core[metrics]'`` from a checkout, which
brings ``prometheus_client``); it is imported only when a function here is
called, so the core stays free of it.

One process::

    from alligator import metrics
    metrics.install(worker, port=9108)   # serves http://127.0.0.1:9108/metrics
    worker.run_forever()

Several processes (``latergator --processes N``) share one endpoint through
prometheus_client's multiprocess mode: the supervisor calls
:func:`prepare_multiprocess` before it starts any child (the children inherit
``PROMETHEUS_MULTIPROC_DIR``) and :func:`serve_multiprocess`; each child calls
``install(worker)`` without a port; the supervisor calls
:func:`process_exited` for each child that ends and :func:`cleanup_multiprocess`
when it stops. Counters of children that exited stay in the totals, so a child
replaced after ``--max-tasks-per-child`` does not make them go backwards: the
endpoint folds each dead child's counter and histogram files into one file
of the sums (``counter_merged.db``, ``histogram_merged.db``), under the same
lock as a scrape, so no scrape sees a value twice or not at all, and the
directory holds the files of the live children and those two, however many
children came and went.

Label values come from payloads, which anyone who can write to the store
chooses: at most :data:`MAX_FUNCTIONS` function names and :data:`MAX_QUEUES`
queue names become label values, and the rest are counted under ``"other"``,
so a flood of made-up names cannot blow up Prometheus. Under a supervisor
the budget is shared by all its children, however many are started: each
admitted value takes one of the numbered slot files in the directory's
``labels/`` folder, claimed with ``O_EXCL``.
"""

from __future__ import annotations

import glob
import hashlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from alligator.events import FINISHED, LIMITED, STARTED, TaskEvent
from alligator.registry import extra_hint
from alligator.text import printable

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

__all__ = [
    "DURATION_BUCKETS",
    "MAX_FUNCTIONS",
    "MAX_QUEUES",
    "MULTIPROC_ENV",
    "WorkerMetrics",
    "cleanup_multiprocess",
    "install",
    "prepare_multiprocess",
    "process_exited",
    "serve_multiprocess",
]

#: The environment variable prometheus_client's multiprocess mode reads.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Most distinct ``function`` label values per process; the rest are ``"other"``.
MAX_FUNCTIONS = 100
#: Most distinct ``queue`` label values per process; the rest are ``"other"``.
MAX_QUEUES = 50
#: Longest label value kept (longer ones are cut).
MAX_LABEL_CHARS = 200
#: Buckets of the duration histogram, in seconds: from a quick call to a long job.
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)
#: The label value standing for every name past the limits.
OTHER = "other"

_MISSING_EXTRA = f"alligator.metrics needs prometheus_client: {extra_hint('metrics')}"


class Listenable(Protocol):
    """Anything events can be listened to on: a :class:`~alligator.workers.Worker`."""

    def add_listener(self, listener: Callable[[TaskEvent], None]) -> None:
        """Calls ``listener`` with every :class:`~alligator.events.TaskEvent`."""


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as err:  # pragma: no cover - the metrics extra is missing
        raise ImportError(_MISSING_EXTRA) from err
    return prometheus_client


class _Bounded:
    """Maps untrusted names to label values, at most ``limit`` distinct ones."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, name: str) -> str:
        value = printable(name, MAX_LABEL_CHARS) if name else "(unknown)"
        with self.lock:
            if value in self.seen:
                return value
            if len(self.seen) >= self.limit:
                return OTHER
            self.seen.add(value)
            return value


class _SharedBounded:
    """Like :class:`_Bounded`, with one budget for every process writing to ``directory``.

    An admitted value holds a slot file (``slot-N``, N below ``limit``,
    created with ``O_EXCL``, so two processes never take the same one) and a
    marker named after its hash, which tells the other processes it is in.
    """

    #: Most rejected values remembered per process (past it, each costs a stat).
    MAX_REMEMBERED = 10_000

    def __init__(self, directory: str, kind: str, limit: int) -> None:
        self.directory = os.path.join(directory, "labels", kind)
        os.makedirs(self.directory, exist_ok=True)
        self.limit = limit
        self.known: dict[str, str] = {}
        self.full = False
        self.lock = threading.Lock()

    def __call__(self, name: str) -> str:
        value = printable(name, MAX_LABEL_CHARS) if name else "(unknown)"
        with self.lock:
            label = self.known.get(value)
            if label is None:
                try:
                    label = self._admit(value)
                except OSError:
                    label = OTHER  # the directory is gone (the supervisor stopping): stay bounded
                if label != OTHER or (self.full and len(self.known) < self.MAX_REMEMBERED):
                    self.known[value] = label
            return label

    def _admit(self, value: str) -> str:
        marker = os.path.join(self.directory, "v-" + hashlib.sha256(value.encode()).hexdigest())
        if os.path.exists(marker):
            return value
        if self.full:
            return OTHER
        for number in range(self.limit):
            slot = os.path.join(self.directory, f"slot-{number}")
            try:
                fd = os.open(slot, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                continue
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                os.remove(slot)  # another process admitted the same value meanwhile
            return value
        self.full = True
        return OTHER


class WorkerMetrics:
    """The metrics of one worker process, fed by its task events.

    Made by :func:`install`. Its counters, for each ``queue`` and
    ``function``:

    - ``alligator_tasks_started_total``: deliveries whose function was about
      to be called;
    - ``alligator_tasks_succeeded_total``: deliveries that returned;
    - ``alligator_tasks_failed_total``: deliveries that failed (raised, timed
      out, or could not be run), whether retried or dead-lettered;
    - ``alligator_tasks_retried_total``: failed deliveries put back for
      another try;
    - ``alligator_tasks_dead_lettered_total``: deliveries dead-lettered;
    - ``alligator_tasks_limited_total``: deliveries handed back unstarted by
      a rate or concurrency limit (see :mod:`alligator.limiting`);

    and ``alligator_task_duration_seconds`` (a histogram, by ``queue`` and
    ``function``), ``alligator_tasks_in_progress`` (by ``queue``) and
    ``alligator_worker_uptime_seconds``.

    Args:
        registry: Where the metrics are registered. In multiprocess mode the
            values go to the shared directory whatever the registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        prom = _prometheus()
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        self.started_at = time.time()
        shared = os.environ.get(MULTIPROC_ENV)
        self.functions: Callable[[str], str]
        self.queues: Callable[[str], str]
        if shared:
            self.functions = _SharedBounded(shared, "function", MAX_FUNCTIONS)
            self.queues = _SharedBounded(shared, "queue", MAX_QUEUES)
        else:
            self.functions = _Bounded(MAX_FUNCTIONS)
            self.queues = _Bounded(MAX_QUEUES)
        labels = ("queue", "function")
        reg = self.registry
        self.started = prom.Counter(
            "alligator_tasks_started",
            "Deliveries whose function was about to be called.",
            labels,
            registry=reg,
        )
        self.succeeded = prom.Counter(
            "alligator_tasks_succeeded", "Deliveries whose function returned.", labels, registry=reg
        )
        self.failed = prom.Counter(
            "alligator_tasks_failed",
            "Deliveries that failed (raised, timed out or could not run), retried or dead-lettered.",
            labels,
            registry=reg,
        )
        self.retried = prom.Counter(
            "alligator_tasks_retried", "Failed deliveries put back for another try.", labels, registry=reg
        )
        self.dead_lettered = prom.Counter(
            "alligator_tasks_dead_lettered", "Deliveries that ended as dead letters.", labels, registry=reg
        )
        self.limited = prom.Counter(
            "alligator_tasks_limited",
            "Deliveries handed back unstarted by a rate or concurrency limit.",
            labels,
            registry=reg,
        )
        self.duration = prom.Histogram(
            "alligator_task_duration_seconds",
            "Seconds task functions ran.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.in_progress = prom.Gauge(
            "alligator_tasks_in_progress",
            "Tasks running now.",
            ("queue",),
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.start_time = prom.Gauge(
            "alligator_worker_start_time_seconds",
            "When the worker process started, in seconds since the epoch.",
            registry=reg,
            multiprocess_mode="livemin",
        )
        self.start_time.set(self.started_at)
        if not os.environ.get(MULTIPROC_ENV):
            # A gauge computed at scrape time cannot be shared through
            # multiprocess files: there the endpoint adds the supervisor's
            # up time under this name instead (see serve_multiprocess).
            self.uptime = prom.Gauge(
                "alligator_worker_uptime_seconds", "Seconds since the worker started.", registry=reg
            )
            self.uptime.set_function(lambda: time.time() - self.started_at)
        #: The HTTP server :func:`install` started, or None.
        self.server: WSGIServer | None = None
        # Which deliveries are running, so a FINISHED event without its
        # STARTED (a payload that could not be read) does not drive the gauge
        # below zero.
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, event: TaskEvent) -> None:
        """Counts one task event; a worker calls it as a listener."""
        queue = self.queues(event.queue)
        function = self.functions(event.function)
        key = (event.queue, event.receipt or event.task_id)
        if event.kind == STARTED:
            self.started.labels(queue, function).inc()
            with self._lock:
                self._running.add(key)
            self.in_progress.labels(queue).inc()
            return
        if event.kind == LIMITED:
            self.limited.labels(queue, function).inc()
            return
        if event.kind != FINISHED:
            return
        with self._lock:
            was_running = key in self._running
            self._running.discard(key)
        if was_running:
            self.in_progress.labels(queue).dec()
        if event.duration is not None:
            self.duration.labels(queue, function).observe(max(event.duration, 0.0))
        outcome = event.outcome
        if outcome == "succeeded":
            self.succeeded.labels(queue, function).inc()
        elif outcome == "retrying":
            self.failed.labels(queue, function).inc()
            self.retried.labels(queue, function).inc()
        elif outcome == "dead-lettered":
            self.failed.labels(queue, function).inc()
            self.dead_lettered.labels(queue, function).inc()


def install(
    worker: Listenable,
    port: int | None = None,
    addr: str = "127.0.0.1",
    registry: CollectorRegistry | None = None,
) -> WorkerMetrics:
    """Counts a worker's tasks, and serves the counts on ``port`` if given.

    Example::

        metrics.install(worker, port=9108)          # one process
        metrics.install(worker)                     # a child under a supervisor

    Args:
        worker: The worker (anything with ``add_listener``).
        port: Serve ``/metrics`` (Prometheus text format) on this port, in a
            daemon thread; 0 picks a free one (see
            :attr:`WorkerMetrics.server`). None serves nothing: under
            ``--processes`` the supervisor serves every child's values.
        addr: The address to listen on; loopback by default. Give
            ``"0.0.0.0"`` for a Prometheus on another machine.
        registry: A registry of your own; by default a new one (with the
            process's CPU and memory metrics when not in multiprocess mode).

    Returns:
        The :class:`WorkerMetrics`; its ``server`` attribute is the HTTP
        server (``server.server_port``, ``server.shutdown()``) or None.
    """
    prom = _prometheus()
    multiprocess = bool(os.environ.get(MULTIPROC_ENV))
    if registry is None:
        registry = prom.CollectorRegistry()
        if not multiprocess:
            prom.ProcessCollector(registry=registry)
    metrics = WorkerMetrics(registry)
    worker.add_listener(metrics)
    if port is not None:
        server, _thread = prom.start_http_server(port, addr=addr, registry=registry)
        metrics.server = server
    return metrics


def prepare_multiprocess(directory: str | None = None) -> str:
    """Readies multiprocess mode in a supervisor, before it starts any child.

    Makes (or empties) the directory the children write their values to,
    and sets ``PROMETHEUS_MULTIPROC_DIR`` in this process's environment so
    every child inherits it. Call it before the first child starts.

    Args:
        directory: Where to keep the values; a new temporary directory by default.

    Returns:
        The directory.
    """
    if directory is None:
        directory = tempfile.mkdtemp(prefix="alligator-metrics-")
    else:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
    os.environ[MULTIPROC_ENV] = directory
    prom = _prometheus()
    # prometheus_client picks its value class when first imported: should it
    # already have been imported here, pick again now that the variable is set.
    prom.values.ValueClass = prom.values.get_value_class()
    return directory


def serve_multiprocess(port: int, directory: str, addr: str = "127.0.0.1") -> WSGIServer:
    """Serves the values every child wrote to ``directory`` as one endpoint.

    ``alligator_worker_uptime_seconds`` is the supervisor's up time, measured
    from this call; ``alligator_worker_start_time_seconds`` is the earliest
    start of the children alive.

    Args:
        port: The port; 0 picks a free one (``server.server_port``).
        directory: What :func:`prepare_multiprocess` returned.
        addr: The address to listen on; loopback by default.

    Returns:
        The HTTP server, serving in a daemon thread; ``shutdown()`` stops it.
    """
    prom = _prometheus()
    multiprocess: Any = importlib.import_module("prometheus_client.multiprocess")
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    started = time.time()

    class _Uptime(Collector):
        def collect(self) -> Any:
            yield GaugeMetricFamily(
                "alligator_worker_uptime_seconds",
                "Seconds since the supervisor started serving its workers' metrics.",
                value=time.time() - started,
            )

    class _Folding(Collector):
        """prometheus_client's MultiProcessCollector, folding dead children's files in first."""

        def collect(self) -> Any:
            with _FOLD_LOCK:
                _fold_safely(directory)
                files = glob.glob(os.path.join(directory, "*.db"))
                return list(multiprocess.MultiProcessCollector.merge(files, accumulate=True))

    registry = prom.CollectorRegistry()
    registry.register(_Folding())
    registry.register(_Uptime())
    server, _thread = prom.start_http_server(port, addr=addr, registry=registry)
    return server  # type: ignore[no-any-return]


#: Held while dead children's files are folded in, and while a scrape reads the files.
_FOLD_LOCK = threading.Lock()
#: The subdirectory where dead children are listed, one empty file named by pid
#: (what ``alligator.supervisor.metricsdir.mark_dead`` writes).
DEAD = "dead"


def process_exited(pid: int, directory: str | None = None) -> None:
    """Tells multiprocess mode a child is gone, so its live gauges stop counting.

    Its counters and histograms stay in the totals: the endpoint folds them
    into the merged files at its next scrape (or within a second).
    """
    directory = directory or os.environ.get(MULTIPROC_ENV) or ""
    os.makedirs(os.path.join(directory, DEAD), exist_ok=True)
    with open(os.path.join(directory, DEAD, str(int(pid))), "w"):
        pass


def _fold_safely(directory: str) -> None:
    """:func:`fold_dead`, whose failure (a file that cannot be read) must not stop the endpoint."""
    try:
        fold_dead(directory)
    except Exception as err:
        print(f"latergator: metrics: could not fold a dead process's values in: {err!r}", file=sys.stderr)


def fold_dead(directory: str) -> int:
    """Folds the files of the children listed as dead into the merged files; returns how many.

    Counters and histograms are sums, so adding a dead child's values to
    ``counter_merged.db`` / ``histogram_merged.db`` and removing its file
    keeps every total where it was; its live gauges are simply removed. Call
    it under :data:`_FOLD_LOCK`, which a scrape holds too.
    """
    # Untyped in prometheus_client: held as Any, as the multiprocess module is.
    MmapedDict: Any = importlib.import_module("prometheus_client.mmap_dict").MmapedDict

    dead = os.path.join(directory, DEAD)
    try:
        pids = os.listdir(dead)
    except FileNotFoundError:
        return 0
    for pid in pids:
        if pid.isdigit():
            for kind in ("counter", "histogram"):
                path = os.path.join(directory, f"{kind}_{pid}.db")
                if not os.path.exists(path):
                    continue
                values = list(MmapedDict.read_all_values_from_file(path))
                merged = MmapedDict(os.path.join(directory, f"{kind}_merged.db"))
                try:
                    for key, value, timestamp, _ in values:
                        total, _ = merged.read_value(key)
                        merged.write_value(key, total + value, timestamp)
                finally:
                    merged.close()
                os.remove(path)
            for path in glob.glob(os.path.join(directory, f"gauge_*_{pid}.db")):
                os.remove(path)
        os.remove(os.path.join(dead, pid))
    return len(pids)


def cleanup_multiprocess(directory: str) -> None:
    """Removes the directory :func:`prepare_multiprocess` made, when the supervisor stops."""
    shutil.rmtree(directory, ignore_errors=True)
    if os.environ.get(MULTIPROC_ENV) == directory:
        del os.environ[MULTIPROC_ENV]


def main(argv: list[str] | None = None) -> int:
    """``python -m alligator.metrics PORT DIR [ADDR [SUPERVISOR_PID]]``: the supervisor's metrics endpoint.

    ``latergator --processes N --metrics-port PORT`` starts this as a process
    of its own, so the supervisor itself stays small (it imports nothing but
    the standard library). It serves what every child wrote to DIRECTORY
    until SIGTERM, or until SUPERVISOR_PID is no longer its parent (the
    supervisor was killed: the port is freed for the next one), and folds
    dead children's files in every second. Exit status 2 when
    prometheus_client is missing or the port cannot be bound.
    """
    import signal

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (2, 3, 4):
        print("usage: python -m alligator.metrics PORT DIRECTORY [ADDR [SUPERVISOR_PID]]", file=sys.stderr)
        return 2
    parent = int(args[3]) if len(args) == 4 else None
    os.environ[MULTIPROC_ENV] = args[1]
    try:
        server = serve_multiprocess(int(args[0]), args[1], args[2] if len(args) > 2 else "127.0.0.1")
    except ImportError as err:
        print(f"latergator: error: --metrics-port: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"latergator: error: --metrics-port {args[0]}: cannot listen there: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        if parent is not None and os.getppid() != parent:
            print(
                f"latergator: the supervisor (pid {parent}) is gone; the metrics endpoint stops",
                file=sys.stderr,
            )
            break
        with _FOLD_LOCK:
            _fold_safely(args[1])
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
