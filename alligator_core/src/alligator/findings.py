"""What a deployment check found: :class:`Finding`, the record ``alligator doctor`` prints.

Kept apart from :mod:`alligator.doctor` so that each group of checks (the
store, the workers) lives in a module of its own and the dashboard can show
the same records as alerts.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Levels, worst first.
LEVELS = ("error", "warning", "info", "ok")


@dataclass(frozen=True)
class Finding:
    """One thing doctor found.

    Attributes:
        level: ``"error"`` (tasks are or will be lost or stuck), ``"warning"``
            (they may be), ``"info"`` (worth knowing) or ``"ok"``.
        check: Which check found it: ``store``, ``store settings``,
            ``clock``, ``modules``, ``signing``, ``workers``, ``dead letters``.
        problem: What is wrong (or right), in a sentence.
        what_to_do: What to do about it; empty when nothing.
    """

    level: str
    check: str
    problem: str
    what_to_do: str = ""

    @property
    def failing(self) -> bool:
        """Whether it makes doctor exit 1 (an error or a warning)."""
        return self.level in ("error", "warning")
