"""How many CPUs this process may really use, and ``latergator``'s default processes and threads.

``os.cpu_count()`` counts the machine's CPUs, not the ones this process may
run on: in a container limited to 2 CPUs on a 64-core host it says 64. Two
things limit a process, and the smaller wins:

* its **affinity mask** (``os.sched_getaffinity(0)``: ``taskset``, a
  ``cpuset`` cgroup, Kubernetes' static CPU manager), where the platform has one;
* its **cgroup CPU quota**: cgroup v2's ``cpu.max`` (``"200000 100000"`` is
  2 CPUs, ``"max 100000"`` no limit), or cgroup v1's ``cpu.cfs_quota_us``
  over ``cpu.cfs_period_us`` (``-1``: no limit), of the process's own cgroup
  (from ``/proc/self/cgroup``, found where ``/proc/self/mountinfo`` says the
  hierarchy is mounted) and of each cgroup above it, since a parent's quota
  binds its children too (``docker run --cpus``, Kubernetes' CPU limits).

A quota of 1.5 CPUs counts as 2 (rounded up); the count is at least 1. A
file that is missing means no limit; one that cannot be read or parsed (odd,
hostile, huge) is never an error: it is ignored, and the description says so.
:func:`count_usable` is the pure part, fed the files' contents; :func:`usable_cpus`
reads this process's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: At most this many bytes are read of any file (a cgroup file is one line; anything longer is not one).
MAX_READ_BYTES = 64 * 1024
#: Where the hierarchies are mounted when ``/proc/self/mountinfo`` does not say.
CGROUP_ROOT = "/sys/fs/cgroup"
#: Threads per worker process by default (``latergator`` without ``--concurrency``).
DEFAULT_THREADS = 4


@dataclass(frozen=True)
class UsableCpus:
    """The CPUs a process may use, and why.

    Attributes:
        count: CPUs usable, rounded up, at least 1.
        online: ``os.cpu_count()`` (None: unknown).
        affinity: CPUs in the affinity mask (None: the platform has none).
        quota: The tightest cgroup CPU quota, in CPUs (None: no quota).
        problems: Files that could not be read or made sense of, ignored.
    """

    count: int
    online: int | None = None
    affinity: int | None = None
    quota: float | None = None
    problems: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"2 CPUs usable: affinity 2 of 8, cgroup quota 2.0"``, for a start line."""
        parts = []
        online = "?" if self.online is None else str(self.online)
        if self.affinity is not None:
            parts.append(f"affinity {self.affinity} of {online}")
        else:
            parts.append(f"{online} CPUs online, no affinity mask")
        parts.append("no cgroup CPU quota" if self.quota is None else f"cgroup quota {round(self.quota, 2)}")
        text = f"{self.count} CPU{'s' if self.count != 1 else ''} usable: {', '.join(parts)}"
        if self.problems:
            text += "; ignored: " + "; ".join(self.problems)
        return text


def _unescape(field: str) -> str:
    """A mountinfo field with its octal escapes (``\\040`` for a space) decoded."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounts(mountinfo: str | None) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(root, mount point) of the cgroup v2 hierarchy and of cgroup v1's ``cpu`` one, if mounted."""
    v2 = v1 = None
    for line in (mountinfo or "").splitlines():
        before, sep, after = line.partition(" - ")
        fields, kind = before.split(), after.split()
        if not sep or len(fields) < 5 or not kind:
            continue
        found = (_unescape(fields[3]), _unescape(fields[4]))
        if kind[0] == "cgroup2" and v2 is None:
            v2 = found
        elif kind[0] == "cgroup" and len(kind) > 2 and "cpu" in kind[2].split(",") and v1 is None:
            v1 = found
    return v2, v1


def _own_cgroups(proc_cgroup: str | None) -> tuple[str | None, str | None]:
    """This process's cgroup v2 path and its cgroup v1 ``cpu`` path, from ``/proc/self/cgroup``."""
    v2 = v1 = None
    for line in (proc_cgroup or "").splitlines():
        number, _, rest = line.partition(":")
        controllers, sep, path = rest.partition(":")
        if not sep or not path.startswith("/"):
            continue
        if number == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _directories(path: str, mount: tuple[str, str]) -> list[str]:
    """The cgroup's directory under ``mount`` and each one above it, up to the mount point."""
    root, point = mount
    root = root.rstrip("/")
    if path == root or path.startswith(root + "/"):
        relative = path[len(root) :].strip("/")
    else:
        relative = ""  # a cgroup outside what is mounted (no cgroup namespace): the mount's own
    parts = [part for part in relative.split("/") if part and part not in (".", "..")]
    return [os.path.join(point, *parts[:depth]) for depth in range(len(parts), -1, -1)]


def _quota_v2(text: str) -> float | None:
    """CPUs allowed by a ``cpu.max`` (``"max 100000"``: None); ValueError when it is not one."""
    fields = text.split()
    if not 1 <= len(fields) <= 2:
        raise ValueError("not 'QUOTA PERIOD'")
    if fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1] if len(fields) == 2 else "100000")


def _ratio(quota: str, period: str) -> float:
    q, p = int(quota), int(period)  # ValueError on anything but whole numbers
    if q <= 0 or p <= 0:
        raise ValueError(f"quota {q} over period {p}")
    return q / p


def count_usable(
    online: int | None,
    affinity: int | None,
    proc_cgroup: str | None,
    mountinfo: str | None,
    read: Callable[[str], str | None],
) -> UsableCpus:
    """Counts the CPUs usable from what the system says; never raises for what it reads.

    Args:
        online: ``os.cpu_count()``.
        affinity: ``len(os.sched_getaffinity(0))``, or None where there is none.
        proc_cgroup: The contents of ``/proc/self/cgroup`` (None: not there).
        mountinfo: The contents of ``/proc/self/mountinfo`` (None: not there;
            the hierarchies are then looked for under :data:`CGROUP_ROOT`).
        read: Returns a file's contents, None if it does not exist; may raise
            OSError (or anything) for one it cannot read.

    Returns:
        The count, with what it came from.
    """
    problems: list[str] = []
    quotas: list[float] = []
    own_v2, own_v1 = _own_cgroups(proc_cgroup)
    mount_v2: tuple[str, str] | None = ("/", CGROUP_ROOT)
    mount_v1: tuple[str, str] | None = ("/", os.path.join(CGROUP_ROOT, "cpu"))
    if mountinfo is not None:
        mount_v2, mount_v1 = _mounts(mountinfo)
    if own_v2 is not None and mount_v2 is not None:
        for directory in _directories(own_v2, mount_v2):
            quotas += _read_quota(read, [os.path.join(directory, "cpu.max")], problems)
    if own_v1 is not None and mount_v1 is not None:
        for directory in _directories(own_v1, mount_v1):
            names = [os.path.join(directory, name) for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us")]
            quotas += _read_quota(read, names, problems)
    quota = min(quotas) if quotas else None
    if online is not None and online < 1:
        problems.append(f"os.cpu_count() said {online}")
        online = None
    if affinity is not None and affinity < 1:
        problems.append(f"an affinity mask of {affinity} CPUs")
        affinity = None
    limits = [n for n in (affinity if affinity is not None else online,) if n is not None]
    if quota is not None:
        limits.append(max(1, math.ceil(quota)))
    count = max(1, min(limits)) if limits else 1
    return UsableCpus(count, online, affinity, quota, tuple(problems))


def _read_quota(read: Callable[[str], str | None], paths: list[str], problems: list[str]) -> list[float]:
    """The quota in ``paths`` (``cpu.max``, or v1's quota and period files) as a list of 0 or 1 CPUs."""
    try:
        texts = [read(path) for path in paths]
        if any(text is None for text in texts):
            return []  # no such file: no limit there
        if len(paths) == 1:
            found = _quota_v2(str(texts[0]))
        else:
            quota, period = (str(text).strip() for text in texts)
            found = None if quota == "-1" else _ratio(quota, period)
    except Exception as err:  # odd or hostile contents: ignored, and said
        problems.append(f"{paths[0]} ({type(err).__name__}: {str(err)[:80]})")
        return []
    return [] if found is None else [found]


def _read(path: str) -> str | None:
    """A file's first :data:`MAX_READ_BYTES` as text; None if there is no such file."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_READ_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(data) > MAX_READ_BYTES:
        raise ValueError(f"longer than {MAX_READ_BYTES} bytes")
    return data.decode("ascii")


def affinity_mask() -> list[int] | None:
    """The CPUs of this process's affinity mask, in order; None where the platform has none."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def plan_pinning(processes: int, usable: UsableCpus, mask: Sequence[int] | None) -> tuple[int, ...]:
    """The CPU each worker process is pinned to (the process in slot ``i`` on the ``i``-th), or ``()``.

    A worker process's threads hand Python's GIL to each other at every
    task's I/O (the store's round trips, the task's own); on different CPUs
    each hand-off wakes a thread on another CPU, which costs CPU time of its
    own and makes the next holder wait. One process to a CPU keeps them on
    one (``docs/performance.md``: 2 processes x 4 threads, a task with one
    Redis round trip, went from about 6,400 to 8,700 tasks a second, and its
    CPU per task from 203 to 156 µs). Done only where that costs nothing:
    two or more processes, no more of them than CPUs in the affinity mask,
    and no cgroup quota narrower than the mask (a quota is CPU time anywhere
    on the mask; pinned, the processes would crowd onto CPUs others may be
    using).

    Args:
        processes: Worker processes the supervisor runs.
        usable: :func:`usable_cpus`.
        mask: :func:`affinity_mask`.
    """
    if processes < 2 or not mask or processes > len(mask):
        return ()
    if usable.quota is not None and usable.quota < len(mask):
        return ()
    return tuple(sorted(mask)[:processes])


def pin_to(cpu: int) -> str | None:
    """Pins this process (and the threads it starts after) to ``cpu``; returns why it could not, or None."""
    try:
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError, ValueError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def usable_cpus() -> UsableCpus:
    """The CPUs this process may use (see the module's documentation); never raises."""
    mask = affinity_mask()
    affinity = len(mask) if mask is not None else None
    texts = []
    for path in ("/proc/self/cgroup", "/proc/self/mountinfo"):
        try:
            texts.append(_read(path))
        except Exception:
            texts.append(None)
    return count_usable(os.cpu_count(), affinity, texts[0], texts[1], _read)


@dataclass(frozen=True)
class Choice:
    """How many worker processes and threads ``latergator`` runs, and why.

    Attributes:
        processes: Worker processes.
        threads: Threads in each (``--concurrency``).
        supervised: Whether a supervisor runs them (``--processes`` given,
            ``--max-tasks-per-child``, or more than one process chosen).
        why: ``"2 CPUs usable: affinity 2 of 8, cgroup quota 2.0"``, or which flags were given.
        pinned: The CPU each process is pinned to, by slot (:func:`plan_pinning`); ``()``: none.
    """

    processes: int
    threads: int
    supervised: bool
    why: str
    pinned: tuple[int, ...] = ()

    def describe(self, process: str = "process") -> str:
        """``"2 processes x 4 threads (2 CPUs usable: affinity 2 of 8, cgroup quota 2.0)"``.

        Args:
            process: What to call a process (``"worker process"``).
        """
        processes = f"{self.processes} {process}{'es' if self.processes != 1 else ''}"
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{processes} x {threads} ({self.why})"


def choose(
    processes: int | None,
    threads: int | None,
    max_tasks: int = 0,
    max_tasks_per_child: int = 0,
    cpus: Callable[[], UsableCpus] = usable_cpus,
    in_process: bool = False,
    pin: bool = True,
    mask: Callable[[], Sequence[int] | None] = affinity_mask,
) -> Choice:
    """``latergator``'s processes and threads: what was given, else the defaults for the CPUs usable.

    One process per usable CPU (:func:`usable_cpus`) and
    :data:`DEFAULT_THREADS` threads in each, chosen by measurement
    (``bench/defaults.py``; ``docs/performance.md``). One process needs no
    supervisor; ``--max-tasks`` (one worker's count) means one process.

    Args:
        processes: ``--processes`` (None: not given).
        threads: ``--concurrency`` (None: not given).
        max_tasks: ``--max-tasks``.
        max_tasks_per_child: ``--max-tasks-per-child`` (it needs a supervisor).
        cpus: Counts the CPUs usable; called only when ``processes`` is not given.
        in_process: The store lives in one process's memory (locmem): one process.
        pin: Pin each supervised process to a CPU of its own where
            :func:`plan_pinning` says so (``--no-cpu-pinning``: never).
        mask: The affinity mask's CPUs; called only to plan pinning.

    Returns:
        The choice, with its reason for the start line.
    """
    reasons = []
    usable: UsableCpus | None = None
    if processes is not None:
        supervised = True
        reasons.append("--processes given")
    elif max_tasks and not max_tasks_per_child:
        processes, supervised = 1, False
        reasons.append("--max-tasks counts one worker's tasks")
    elif in_process and not max_tasks_per_child:
        processes, supervised = 1, False
        reasons.append("the store lives in this process's memory")
    else:
        usable = cpus()
        processes = usable.count
        supervised = processes > 1 or bool(max_tasks_per_child)
        reasons.append(usable.describe())
    if threads is not None:
        reasons.append("--concurrency given")
    if reasons == ["--processes given", "--concurrency given"]:
        reasons = ["--processes and --concurrency given"]
    pinned: tuple[int, ...] = ()
    if supervised and pin and processes > 1:
        pinned = plan_pinning(processes, usable or cpus(), mask())
        if pinned:
            reasons.append(f"one CPU each: {', '.join(map(str, pinned))}")
    return Choice(processes, threads or DEFAULT_THREADS, supervised, "; ".join(reasons), pinned)
