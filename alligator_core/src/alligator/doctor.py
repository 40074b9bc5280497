"""``alligator doctor``: checks a deployment for what would lose or stall tasks.

Each check gives :class:`~alligator.findings.Finding` s, each with a level and what to do:

- **store**: the store opens and answers at all (an *error* stops the other
  checks; what the store's own checks can still tell is added);
- **store settings**: whatever :meth:`Backend.diagnose
  <alligator.capabilities.Diagnosis.diagnose>` reports: that the store accepts a
  write (nothing is left behind), and its own settings and health (Redis:
  persistence, ``maxmemory-policy``, memory used against ``maxmemory``, a
  Cluster's state, failed nodes and slots without a replica; SQLite: the
  journal mode, the file system and the free disk space);
- **clock**: this machine's clock against the store's, off by more than
  :data:`MAX_CLOCK_SKEW` seconds is a *warning* (delays and ``delay_until``
  are measured on the store's clock; worker heartbeats on the workers');
- **modules**: each allowed module (``--allow``, ``ALLIGATOR_ALLOW``) imports
  here, as a worker started here would import it (an *error* otherwise:
  its tasks would be dead-lettered);
- **signing**: whether ``ALLIGATOR_SECRET`` signs payloads here (*info*; a
  malformed secret is an *error*), and whether waiting payloads are signed
  the same way (a *warning* when a worker with this setting would refuse
  them);
- **workers** (:mod:`alligator.worker_checks`): every queue with waiting
  tasks has a live worker consuming it, with a free thread (a *warning*
  otherwise: the tasks stall; a saturated queue's finding names the oldest
  running task and its age), and no worker record is stale (its heartbeats
  stopped: a *warning*, and it is not counted as live);
- **dead letters**: more than :data:`DEAD_LETTERS_WARNING` in a queue is a
  *warning* (something fails for good, over and over), and so are
  :data:`DEAD_LETTERS_PER_HOUR` or more written in the last hour (they are
  piling up now) and nearing the backend's cap, past which the oldest are
  dropped.

*error* and *warning* make ``alligator doctor`` exit 1; *info* and *ok* do
not. Every check reads the store through :class:`alligator.admin.Admin`, as
the command and the dashboard do: what a store cannot do (it lacks a
capability of :mod:`alligator.capabilities`) is an *info* finding in the
words the other tools use ("this store keeps no registry of workers ..."),
never a crash. On a store that cannot count per state, the worker check
reads the waiting and delayed tasks together (:meth:`~alligator.admin.Admin.queued`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from alligator.admin import Admin
from alligator.backend import Backend, QueueCounts
from alligator.capabilities import Diagnosis, Inspection
from alligator.exceptions import BackendError

# Re-exported: Finding and LEVELS were defined here first, and callers import them from here.
from alligator.findings import LEVELS as LEVELS
from alligator.findings import Finding as Finding
from alligator.text import printable, redact_dsn
from alligator.worker_checks import check_workers

#: Seconds this machine's clock may be off the store's before it is a warning.
MAX_CLOCK_SKEW = 2.0
#: Dead letters in one queue above which doctor warns.
DEAD_LETTERS_WARNING = 100
#: Dead letters written in the last hour, in one queue, from which doctor warns that they pile up.
DEAD_LETTERS_PER_HOUR = 10
#: Waiting payloads per queue doctor reads to compare their signing with this machine's.
SIGNING_SAMPLE = 20


def examine(
    dsn: str,
    allow: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> list[Finding]:
    """Runs every check against the store a DSN names.

    Args:
        dsn: The store's DSN.
        allow: Modules the workers allow (added to ``ALLIGATOR_ALLOW``).
        environ: Where to read ``ALLIGATOR_ALLOW`` and ``ALLIGATOR_SECRET``
            (default: ``os.environ``).
        clock: This machine's clock, compared with the store's.

    Returns:
        The findings, in the order the checks ran.
    """
    from alligator.registry import load_backend

    env = dict(os.environ if environ is None else environ)
    try:
        backend = load_backend(dsn)
    except BackendError as err:
        # The DSN is fine: the store is not (a full disk, a read-only file).
        return [
            Finding(
                "error",
                "store",
                f"the store cannot be opened: {err}",
                "fix what the error names (free disk space, file permissions, the server); "
                "workers and producers cannot use the store meanwhile",
            )
        ]
    except Exception as err:
        return [
            Finding(
                "error",
                "store",
                f"the DSN cannot be used: {err}",
                "check the DSN and that the backend is installed",
            )
        ]
    try:
        return _examine(backend, allow, env, clock)
    finally:
        try:
            backend.close()
        except Exception:  # closing a store that failed must not hide the findings
            pass


def _examine(
    backend: Backend, allow: Sequence[str], env: dict[str, str], clock: Callable[[], float]
) -> list[Finding]:
    findings: list[Finding] = []
    admin = Admin(backend)
    where = backend.describe()
    try:
        before = clock()
        store_now = backend.now()
        after = clock()
        # The store's queues, or (where it cannot list them) those its workers consume and "all".
        queues = admin.queues()
    except Exception as err:
        unreachable = Finding(
            "error",
            "store",
            f"the store {where} cannot be reached: {type(err).__name__}: {err}",
            "start it, or fix the DSN (host, port, path, password); "
            "workers cannot take or settle tasks meanwhile",
        )
        # What the store's own checks can still tell (a cluster whose state
        # is fail answers on its other nodes) says why.
        try:
            return [unreachable, *(f for f in _diagnosed(backend) if f.failing)]
        except Exception:
            return [unreachable]
    findings.append(Finding("ok", "store", f"the store {where} answers"))
    settings = _settings(backend)
    findings += settings
    findings.append(_clock(before, store_now, after))
    findings += _modules(allow, env)
    signing = _signing(env)
    findings.append(signing[0])
    uncounted = admin.cannot(Inspection)
    if uncounted is None:
        counts = {queue: admin.counts(queue) for queue in queues}
    else:
        # What the required part counts: the waiting and delayed tasks together.
        counts = {queue: QueueCounts(waiting=admin.queued(queue)) for queue in queues}
        findings.append(
            Finding(
                "info",
                "queues",
                f"{uncounted}: the signing and dead-letter checks were skipped, and the worker check "
                "counts delayed tasks as waiting",
            )
        )
    if signing[1] is not None and uncounted is None:
        findings += _payload_signing(admin, counts, signing[1])
    failing = any(f.level == "error" for f in settings)
    findings += check_workers(admin, counts, clock(), store_failing=failing)
    if uncounted is None:
        findings += _dead_letters(admin, counts)
    return findings


def _settings(backend: Backend) -> list[Finding]:
    cannot = Admin(backend).cannot(Diagnosis)
    if cannot is not None:
        return [Finding("info", "store settings", f"{cannot}: its settings were not checked")]
    try:
        return _diagnosed(backend)
    except Exception as err:
        return [
            Finding(
                "warning",
                "store settings",
                f"the store's settings could not be read: {type(err).__name__}: {err}",
                "check that the DSN's user may read the server's configuration",
            )
        ]


def _diagnosed(backend: Backend) -> list[Finding]:
    """The backend's own findings (it raises when the store cannot be read)."""
    admin = Admin(backend)
    if admin.cannot(Diagnosis) is not None:
        return []
    return [
        Finding(level if level in LEVELS else "warning", "store settings", problem, what_to_do)
        for level, problem, what_to_do in admin.diagnose()
    ]


def _clock(before: float, store_now: float, after: float) -> Finding:
    # The store's time was read somewhere between before and after: the
    # round trip bounds how precisely the skew is known.
    skew = store_now - (before + after) / 2
    slack = (after - before) / 2
    if abs(skew) - slack > MAX_CLOCK_SKEW:
        way = "ahead of" if skew < 0 else "behind"
        return Finding(
            "warning",
            "clock",
            f"this machine's clock is {abs(skew):.1f}s {way} the store's",
            "run NTP (chrony, systemd-timesyncd) on this machine and the store's: delays are measured on the "
            "store's clock, worker heartbeats and 'started' times on the workers'",
        )
    return Finding(
        "ok", "clock", f"this machine's clock is within {MAX_CLOCK_SKEW:g}s of the store's ({skew:+.3f}s)"
    )


def _modules(allow: Sequence[str], env: dict[str, str]) -> list[Finding]:
    from alligator.cli import add_import_paths
    from alligator.importcheck import check_allowed
    from alligator.security import TaskPolicy

    try:
        entries = TaskPolicy.build(list(allow), secret=[], environ=env).allow
    except ValueError as err:
        return [
            Finding("error", "modules", f"the allow list is invalid: {err}", "fix --allow / ALLIGATOR_ALLOW")
        ]
    if not entries:
        return [
            Finding(
                "info",
                "modules",
                "no allowed modules given (--allow, ALLIGATOR_ALLOW): the import check was skipped",
                "run doctor where the workers run, with the worker's --allow flags",
            )
        ]
    # A worker started here searches this directory too (after the installed packages).
    add_import_paths([])
    # The check latergator runs at start, reported here as findings.
    return [
        Finding("error", "modules", check.problem, check.what_to_do)
        if check.problem is not None
        else Finding("ok", "modules", f"allowed {check.entry} imports here")
        for check in check_allowed(entries)
    ]


def _signing(env: dict[str, str]) -> tuple[Finding, bool | None]:
    from alligator.security import SECRET_ENV, TaskPolicy

    try:
        signing = TaskPolicy.build(environ=env).signing
    except ValueError as err:
        return (
            Finding(
                "error",
                "signing",
                f"{SECRET_ENV} is invalid: {err}",
                f"set {SECRET_ENV} to one or more keys of at least 32 characters, comma-separated, "
                "or unset it",
            ),
            None,
        )
    if signing:
        return Finding("ok", "signing", f"payloads are signed and checked ({SECRET_ENV} is set)"), True
    return (
        Finding(
            "info",
            "signing",
            f"signing is off ({SECRET_ENV} is not set): anyone who can write to the store can queue any "
            "allowed function with any arguments",
            f"set {SECRET_ENV} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))') for "
            "producers and workers alike",
        ),
        False,
    )


def _payload_signing(admin: Admin, counts: Mapping[str, object], signing: bool) -> list[Finding]:
    from alligator.security import SECRET_ENV, SIGNED_PREFIX

    findings = []
    for queue in counts:
        page = admin.tasks(queue, "waiting", 0, SIGNING_SAMPLE)
        odd = [info for info in page if info.payload.startswith(SIGNED_PREFIX) != signing]
        if not odd:
            continue
        if signing:
            findings.append(
                Finding(
                    "warning",
                    "signing",
                    f"{len(odd)} of the first {len(page)} waiting tasks of queue {printable(queue)!r} "
                    "are not signed: a worker with this secret dead-letters them",
                    f"give the producers the same {SECRET_ENV}",
                )
            )
        else:
            findings.append(
                Finding(
                    "info",
                    "signing",
                    f"{len(odd)} of the first {len(page)} waiting tasks of queue {printable(queue)!r} "
                    "are signed, but signing is off here: their signatures are not checked",
                    f"give the workers the producers' {SECRET_ENV}",
                )
            )
    return findings


def _dead_letters(admin: Admin, counts: Mapping[str, object]) -> list[Finding]:
    backend = admin.backend
    findings = []
    for queue, count in counts.items():
        dead = getattr(count, "dead", 0)
        name = printable(queue)
        if dead >= backend.max_dead_letters * 0.9:
            findings.append(
                Finding(
                    "warning",
                    "dead letters",
                    f"queue {name!r} has {dead} dead letters, at or near the cap of "
                    f"{backend.max_dead_letters}: the oldest are being dropped",
                    f"read why (alligator tasks DSN --queue {name} --state dead), fix the task, "
                    "then requeue or purge them",
                )
            )
        elif dead > DEAD_LETTERS_WARNING:
            findings.append(
                Finding(
                    "warning",
                    "dead letters",
                    f"queue {name!r} has {dead} dead letters (more than {DEAD_LETTERS_WARNING})",
                    f"read why (alligator tasks DSN --queue {name} --state dead), fix the task, then "
                    f"alligator requeue DSN --queue {name} --all, or purge --dead",
                )
            )
        elif dead >= DEAD_LETTERS_PER_HOUR:
            recent = _recent_dead(admin, queue, dead)
            if recent >= DEAD_LETTERS_PER_HOUR:
                findings.append(
                    Finding(
                        "warning",
                        "dead letters",
                        f"queue {name!r} is piling up dead letters: {recent} in the last hour",
                        f"read why (alligator tasks DSN --queue {name} --state dead) and fix the task "
                        "before more fail",
                    )
                )
    if not findings:
        findings.append(
            Finding(
                "ok",
                "dead letters",
                f"no queue holds more than {DEAD_LETTERS_WARNING} dead letters, "
                f"nor gained {DEAD_LETTERS_PER_HOUR} in the last hour",
            )
        )
    return findings


def _recent_dead(admin: Admin, queue: str, dead: int) -> int:
    """Counts the dead letters of the last hour among the newest ones (listed oldest first)."""
    newest = admin.tasks(queue, "dead", max(dead - DEAD_LETTERS_WARNING, 0), DEAD_LETTERS_WARNING)
    since = admin.backend.now() - 3600.0
    return sum(1 for info in newest if info.failed_at is not None and info.failed_at >= since)


def report(dsn: str, findings: Sequence[Finding], out: TextIO) -> None:
    """Prints findings for a person: one block each, worst level first, then a summary line."""
    out.write(f"alligator doctor: {printable(redact_dsn(dsn))}\n\n")
    ordered = sorted(findings, key=lambda f: LEVELS.index(f.level) if f.level in LEVELS else 0)
    for finding in ordered:
        out.write(
            f"{finding.level.upper():<8} {printable(finding.check)}: {printable(finding.problem, 1000)}\n"
        )
        if finding.what_to_do and finding.level != "ok":
            out.write(f"         what to do: {printable(finding.what_to_do, 1000)}\n")
    errors = sum(1 for f in findings if f.level == "error")
    warnings = sum(1 for f in findings if f.level == "warning")
    verdict = "nothing wrong found" if not errors and not warnings else "problems found"
    out.write(
        f"\n{errors} error{'s' if errors != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''}: {verdict}\n"
    )
