"""Doctor's checks of the live workers, read from their heartbeat records.

Three things stall a queue while every worker looks alive:

- **unconsumed**: a queue has waiting tasks and no live worker whose
  ``--queue`` includes it;
- **saturated**: a queue has waiting tasks and every thread of every live
  worker consuming it is running a task (the tasks may be stuck: the finding
  names the oldest running task, how long it has run, and the function most
  threads are in);
- **stale**: a record whose last heartbeat is more than
  :data:`~alligator.presence.STALE_SECONDS` old (its worker was killed, hangs,
  or cannot write to the store) is reported and not counted as live, though
  the store lists it until it expires.

Each is a *warning*, except for a paused queue (``alligator pause``), whose
waiting tasks are an *info*. Heartbeats and the ``since`` of running tasks are
written on the workers' clocks; they are compared with ``now``, this
machine's clock (the clock check warns when it is off the store's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from alligator.admin import Admin
from alligator.backend import QueueCounts
from alligator.capabilities import WorkerRegistry
from alligator.findings import Finding
from alligator.pausing import listed
from alligator.presence import MAX_CURRENT, STALE_SECONDS, WORKER_TTL, WorkerInfo, is_stale
from alligator.text import printable

#: Stale workers a finding names; the others are counted.
NAMED_STALE = 5


def check_workers(
    admin: Admin, counts: Mapping[str, QueueCounts], now: float, store_failing: bool = False
) -> list[Finding]:
    """Checks that every queue with waiting tasks has a live worker with a free thread.

    Args:
        admin: The store, as :class:`~alligator.admin.Admin` reads it.
        counts: Each queue's counts.
        now: This machine's clock, in seconds since the epoch.
        store_failing: The store's own checks found an error: a worker may be
            running and unable to write its heartbeat, which the findings say.

    Returns:
        The findings (one ``ok`` when nothing is wrong).
    """
    cannot = admin.cannot(WorkerRegistry)
    if cannot is not None:
        return [
            Finding(
                "info",
                "workers",
                f"the registry of live workers is unavailable ({cannot}): "
                "whether queues are consumed was not checked",
            )
        ]
    listed = admin.workers()
    stale = [info for info in listed if is_stale(info, now)]
    live = [info for info in listed if not is_stale(info, now)]
    findings = _stale(stale, now, store_failing)
    paused = _paused_queues(admin)
    for queue, count in counts.items():
        if not count.waiting:
            continue
        if queue in paused:
            # Its tasks wait on purpose (alligator pause): not a stall.
            findings.append(
                Finding(
                    "info",
                    "workers",
                    f"queue {printable(queue)!r} is paused: its {count.waiting} waiting "
                    f"task{'s stay' if count.waiting != 1 else ' stays'} until it is resumed",
                    f"alligator resume DSN --queue {printable(queue)}",
                )
            )
            continue
        consumers = [info for info in live if queue in info.queues]
        if not consumers:
            findings.append(_unconsumed(queue, count.waiting, stale, store_failing))
        elif all(_busy(info) for info in consumers):
            findings.append(_saturated(queue, count.waiting, consumers, now))
    if not findings:
        findings.append(
            Finding(
                "ok",
                "workers",
                f"{len(live)} live worker{'s' if len(live) != 1 else ''}; "
                "no queue waits unconsumed or for a free thread",
            )
        )
    return findings


def _paused_queues(admin: Admin) -> set[str]:
    """The queues paused in the store (none when it cannot pause or the read fails)."""
    try:
        return {name for kind, name in listed(admin.paused_or_none() or []) if kind == "queue"}
    except Exception:  # the pause check is a nicety: the other checks go on
        return set()


def _busy(info: WorkerInfo) -> bool:
    """Whether every thread of a worker runs a task (a record lists at most MAX_CURRENT)."""
    return len(info.current) >= min(info.concurrency, MAX_CURRENT)


def _unconsumed(queue: str, waiting: int, stale: Sequence[WorkerInfo], store_failing: bool) -> Finding:
    problem = (
        f"queue {printable(queue)!r} has {waiting} waiting task{'s' if waiting != 1 else ''} "
        "and no live worker consuming it"
    )
    gone = sum(1 for info in stale if queue in info.queues)
    if gone:
        problem += f" ({gone} stale worker record{'s' if gone != 1 else ''} for it: see above)"
    elif store_failing:
        problem += " (or workers that cannot write their heartbeats: see the store's errors)"
    return Finding(
        "warning", "workers", problem, f"start one: latergator DSN --queue {printable(queue)} --allow ..."
    )


def _saturated(queue: str, waiting: int, consumers: Sequence[WorkerInfo], now: float) -> Finding:
    running = [task for info in consumers for task in info.current]
    threads = sum(min(info.concurrency, MAX_CURRENT) for info in consumers)
    oldest = min(running, key=lambda task: task.since)
    function, count = Counter(task.function for task in running).most_common(1)[0]
    return Finding(
        "warning",
        "workers",
        f"queue {printable(queue)!r} has {waiting} waiting task{'s' if waiting != 1 else ''} and every "
        f"thread of its {len(consumers)} live worker{'s' if len(consumers) != 1 else ''} is busy "
        f"({len(running)} of {threads}): the oldest running task, {printable(oldest.function)} "
        f"({printable(oldest.task_id)}), has run {max(now - oldest.since, 0.0):.0f}s; "
        f"{count} of the {len(running)} run {printable(function)}",
        "if those tasks hang, see alligator workers DSN, fix the function or give it a time limit "
        "(latergator --time-limit S); otherwise add workers or --concurrency",
    )


def _stale(stale: Sequence[WorkerInfo], now: float, store_failing: bool) -> list[Finding]:
    if not stale:
        return []
    named = ", ".join(
        f"{printable(info.worker_id)} (last heartbeat {max(now - info.heartbeat_at, 0.0):.0f}s ago)"
        for info in stale[:NAMED_STALE]
    )
    more = f" and {len(stale) - NAMED_STALE} more" if len(stale) > NAMED_STALE else ""
    held = sum(len(info.current) for info in stale)
    if store_failing:
        why = "cannot write to the store (see its errors), was killed, or hangs"
    else:
        why = "was killed, hangs, or cannot write to the store"
    return [
        Finding(
            "warning",
            "workers",
            f"{len(stale)} worker record{'s are' if len(stale) != 1 else ' is'} stale, not counted as "
            f"live (no heartbeat for more than {STALE_SECONDS:g}s): {named}{more}; each {why}",
            f"a killed worker's record vanishes {WORKER_TTL:g}s after its last heartbeat, and the "
            f"tasks it was running ({held}) are handed out again when their leases end;"
            " otherwise read that worker's log (alligator workers DSN lists it)",
        )
    ]
