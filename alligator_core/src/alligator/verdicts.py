"""Verdicts: what the store is to do with one delivery, decided before anything is written.

The delivery steps (:class:`~alligator.delivery.DeliverySteps`), a worker
handing back tasks it did not start, and the supervisor settling a task it
killed all decide a verdict and hand it to the one
:class:`~alligator.settler.Settler`, which applies it (at once, or a
success's ack batched with others) and drops the task's lease. A verdict is
plain data: it names the delivery (queue, task id, receipt) and what to do:

======================  =======================================================
:class:`Acknowledge`    ack, keeping the return value (already JSON, signed)
:class:`Retry`          release, due again after ``delay``; counted as a failure
:class:`Bury`           dead-letter, with the reason as stored (signed)
:class:`HandBack`       release unstarted (``attempted=False``): not counted
:class:`Leave`          write nothing; the lease ends and it is delivered again
======================  =======================================================

A verdict whose receipt went stale (the lease ended first and the task went
to another delivery) changes nothing when applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from alligator.store_values import Ack


@dataclass(frozen=True)
class Verdict:
    """The delivery a verdict is about; the base of the five kinds.

    Attributes:
        queue: The queue the task was reserved from.
        task_id: The reserved task.
        receipt: The receipt of that delivery.
    """

    queue: str
    task_id: str
    receipt: str


@dataclass(frozen=True)
class Acknowledge(Verdict):
    """The task succeeded: ack it, and keep its return value in the same atomic step.

    Attributes:
        result: The return value as stored (JSON, signed when a secret is
            set); None keeps nothing.
        result_ttl: Seconds to keep it, on the store's clock.
    """

    result: str | None
    result_ttl: float

    @property
    def ack(self) -> Ack:
        """The :class:`~alligator.store_values.Ack` the store is sent."""
        return Ack(self.task_id, self.receipt, self.result, self.result_ttl)


@dataclass(frozen=True)
class Retry(Verdict):
    """The task failed with retries left: release it, due again after ``delay`` seconds.

    The store counts the delivery as one that ran and failed.
    """

    delay: float


@dataclass(frozen=True)
class Bury(Verdict):
    """The task failed for good, or may never run: move it to the dead letters.

    Attributes:
        reason: The reason as the store keeps it (signed when a secret is set).
    """

    reason: str


@dataclass(frozen=True)
class HandBack(Verdict):
    """Give the task back unstarted: due again after ``delay``, the delivery not counted.

    For a task whose dependencies are pending, a buffered task not started in
    time, one of a paused queue or function, or one a stopping worker gives up.
    """

    delay: float = 0.0


@dataclass(frozen=True)
class Leave(Verdict):
    """Write nothing: the lease ends and the task is delivered again (the store failed)."""
