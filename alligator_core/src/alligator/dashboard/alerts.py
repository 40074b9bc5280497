"""What ``alligator doctor`` finds, shown on the overview as alerts.

The checks read the store (and, as ``doctor`` grows, may write to it and roll
back), so they run in a thread of their own at most every
:data:`CHECK_SECONDS`, started by a page that finds the last run too old: a
storm of requests runs them once, an idle dashboard not at all, and no
request waits for them. Findings are shown generically (level, check,
problem, what to do), so new checks appear without a change here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alligator.security import ALLOW_ENV

log = logging.getLogger("alligator.dashboard")

#: Fewest seconds between two runs of the checks.
CHECK_SECONDS = 10.0
#: Levels shown as alerts, worst first.
ALERT_LEVELS = ("error", "warning")


@dataclass(frozen=True)
class Checkup:
    """One run of doctor's checks.

    Attributes:
        at: When it ended (seconds since the epoch); 0 before the first run.
        findings: What it found (:class:`alligator.doctor.Finding` s, or
            anything with ``level``, ``check``, ``problem``, ``what_to_do``).
    """

    at: float = 0.0
    findings: Sequence[Any] = field(default_factory=tuple)

    @property
    def alerts(self) -> list[Any]:
        """The errors and warnings, worst first."""
        found = [f for f in self.findings if getattr(f, "level", "") in ALERT_LEVELS]
        return sorted(found, key=lambda f: ALERT_LEVELS.index(f.level))

    @property
    def notes(self) -> list[Any]:
        """The findings worth knowing that are not alerts (doctor's *info*)."""
        return [f for f in self.findings if getattr(f, "level", "") == "info"]

    @property
    def passed(self) -> int:
        """How many checks found nothing wrong."""
        return sum(1 for f in self.findings if getattr(f, "level", "") == "ok")


def examine_store(dsn: str) -> list[Any]:
    """Runs doctor's checks on the store, without importing the workers' task modules.

    The dashboard is not where workers run, and importing their modules
    would run their code in it: ``ALLIGATOR_ALLOW`` is left out, so doctor
    skips the import check (``alligator doctor`` where the workers run does it).
    """
    from alligator.doctor import examine

    environ = {key: value for key, value in os.environ.items() if key != ALLOW_ENV}
    return list(examine(dsn, environ=environ))


class Doctor:
    """Keeps the last :class:`Checkup` and runs a new one in the background when it is old.

    Args:
        dsn: The store's DSN.
        every: Fewest seconds between two runs.
        examine: What runs the checks (by default :func:`examine_store`).
    """

    def __init__(
        self, dsn: str, every: float = CHECK_SECONDS, examine: Callable[[str], list[Any]] = examine_store
    ) -> None:
        self.dsn = dsn
        self.every = every
        self._examine = examine
        self._last = Checkup()
        self._started_at = 0.0
        self._running = False
        self._lock = threading.Lock()

    def checkup(self) -> Checkup:
        """The last checkup; starts a new run in a thread if the last one is old (never waits for it)."""
        with self._lock:
            due = not self._running and time.time() - self._started_at >= self.every
            if due:
                self._running = True
                self._started_at = time.time()
            last = self._last
        if due:
            threading.Thread(target=self._run, name="alligator-dashboard-doctor", daemon=True).start()
        return last

    def run(self) -> Checkup:
        """Runs the checks now, in this thread, and keeps the result."""
        try:
            findings = self._examine(self.dsn)
        except Exception as err:  # the checks failing is itself worth an alert
            log.warning("dashboard: doctor's checks failed: %s: %s", type(err).__name__, err)
            from alligator.doctor import Finding

            findings = [Finding("error", "doctor", f"the checks failed: {type(err).__name__}: {err}")]
        done = Checkup(time.time(), tuple(findings))
        with self._lock:
            self._last = done
        return done

    def _run(self) -> None:
        try:
            self.run()
        finally:
            with self._lock:
                self._running = False
