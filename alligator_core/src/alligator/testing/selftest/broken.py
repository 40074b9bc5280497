"""Variants of :class:`~alligator.testing.selftest.reference.ReferenceBackend` that each break one rule.

Each reproduces a bug a real backend had (issue 8's findings, issue 10's
trial backend) or could easily have; ``test_kit.py`` shows the kit fails
every one of them, naming the tests that must catch it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alligator.backend import QueueCounts, TaskInfo
from alligator.testing.selftest.reference import ReferenceBackend, _Queue, _Task


class FailuresNotCounted(ReferenceBackend):
    """``release(attempted=True)`` forgets to count a failure."""

    def _count_release(self, task: _Task, attempted: bool) -> None:
        if not attempted:
            task.attempts -= 1


class PushOverDeadLetter(ReferenceBackend):
    """``push`` checks only live tasks, so an id can be live and dead at once."""

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        self._check_delay(delay)
        with self._lock:
            q = self._queue(queue)
            if task_id in q.live:
                return False
            self._add(q, task_id, payload, self.now() + max(delay, 0.0))
            return True


class UnreadableRecordHaltsReserve(ReferenceBackend):
    """Decodes every record it meets: one that is not UTF-8 makes every reserve raise (issue 8, finding 1)."""

    def _refusal(self, payload: str) -> str | None:
        payload.encode("utf-8")  # raises, as a driver decoding the row would
        return super()._refusal(payload)


class OversizedRecordHandedOut(ReferenceBackend):
    """Never checks the size, so any record reaches the worker's memory (issue 8, finding 11)."""

    def _refusal(self, payload: str) -> str | None:
        try:
            payload.encode("utf-8")
        except UnicodeEncodeError:
            return "payload is not valid UTF-8"
        return None


class NulCutOff(ReferenceBackend):
    """Stores text as C strings do: a payload or reason ends at its first NUL (issue 10, item 8)."""

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        return super().push(queue, task_id, payload.split("\x00")[0], delay)

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        return super().dead_letter(queue, task_id, receipt, reason.split("\x00")[0])


class RequeueOverwritesLiveTask(ReferenceBackend):
    """``requeue`` puts a dead letter back even over a live task of its id, losing it (issue 8, finding 6)."""

    def requeue(self, queue: str, task_id: str) -> bool:
        with self._lock:
            q = self._queue(queue)
            letter = q.dead.pop(task_id, None)
            if letter is None:
                return False
            self._add(q, task_id, letter.payload, self.now())
            return True


class NanDelayAccepted(ReferenceBackend):
    """Takes any delay, so a NaN one queues a task that is never due (issue 8, finding 5)."""

    def _check_delay(self, delay: float) -> None:
        pass


class PushManyHalfApplied(ReferenceBackend):
    """``push_many`` pushes one by one, so items before a NaN delay are added before it raises."""

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        with self._lock:
            # Each push checks its own delay: the items before a NaN are in.
            return sum(1 for task_id, payload, delay in items if self.push(queue, task_id, payload, delay))


class EndedLeaseReceiptAccepted(ReferenceBackend):
    """Checks a receipt, not whether its lease ended, until the task is reserved again (issue 10, item 4)."""

    def _held(self, q: _Queue, task_id: str, receipt: str) -> _Task | None:
        task = q.live.get(task_id)
        if task is None or not task.receipt or task.receipt != receipt:
            return None
        if task.lease_end is None:
            task.lease_end = task.due  # the lapsed lease, taken as still held
        return task


class RepeatingReceipts(ReferenceBackend):
    """Makes receipts from the id and the delivery count, which recur (issue 10, item 5)."""

    def _new_receipt(self, task_id: str, task: _Task) -> str:
        return f"{task_id}:{task.attempts}"


class PurgeLeavesOne(ReferenceBackend):
    """``purge_dead`` stops one short, as an off-by-one page loop would."""

    def purge_dead(self, queue: str) -> int:
        with self._lock:
            q = self._queue(queue)
            return sum(1 for task_id in list(q.dead)[:-1] if self._forget_dead(q, task_id))


class RunningCountedAsWaiting(ReferenceBackend):
    """``counts`` puts reserved tasks among the waiting ones, as a count of "not delayed" would."""

    def counts(self, queue: str) -> QueueCounts:
        counts = super().counts(queue)
        return QueueCounts(counts.waiting + counts.running, counts.delayed, 0, counts.dead)


class DeadLettersKeptForever(ReferenceBackend):
    """Never drops a dead letter: a poison flood fills the store."""

    def _retain(self, q: _Queue, now: float) -> None:
        pass


class WaitingListedInPushOrder(ReferenceBackend):
    """``tasks("waiting")`` lists by push order, not in the order reserve takes them."""

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        listed = super().tasks(queue, state, 0, 1_000_000)
        if state == "waiting":
            live = list(self._queue(queue).live)
            listed.sort(key=lambda info: live.index(info.task_id))
        return listed[offset : offset + limit]


#: Every broken variant, with the kit tests that must fail for it. The state
#: machine catches several too, but by chance: only named tests are required.
BROKEN: dict[type[ReferenceBackend], list[str]] = {
    FailuresNotCounted: [
        "test_release_attempted_counts_a_failure",
        "test_release_unattempted_leaves_failures_alone",
        "test_expired_lease_is_not_a_failure",
        "test_get_returns_failures",
        "test_requeue_resets_failures_and_attempts",
    ],
    PushOverDeadLetter: ["test_push_over_a_dead_letter_is_refused"],
    UnreadableRecordHaltsReserve: [
        "test_unreadable_records_are_dead_lettered_alone",
        "test_unreadable_records_never_halt_the_queue",
        "test_get_dead_letters_an_unreadable_record",
        "test_peek_leaves_an_unreadable_record_alone",
    ],
    OversizedRecordHandedOut: [
        "test_unreadable_records_are_dead_lettered_alone",
        "test_instance_payload_limit_is_honoured",
        "test_get_honours_the_instance_payload_limit",
    ],
    NulCutOff: ["test_hard_strings_cross_unchanged", "test_hard_strings_cross_push_many_and_get"],
    RequeueOverwritesLiveTask: ["test_requeue_never_overwrites_a_live_task"],
    NanDelayAccepted: [
        f"{test}[{delay}]"
        for test in (
            "test_push_refuses_a_nan_or_infinite_delay",
            "test_push_many_refuses_a_nan_or_infinite_delay_before_any_change",
            "test_release_refuses_a_nan_or_infinite_delay",
        )
        for delay in ("nan", "inf", "-inf")
    ],
    PushManyHalfApplied: [
        f"test_push_many_refuses_a_nan_or_infinite_delay_before_any_change[{delay}]"
        for delay in ("nan", "inf", "-inf")
    ],
    EndedLeaseReceiptAccepted: ["test_ended_lease_refuses_its_receipt_before_anyone_reserves_it"],
    RepeatingReceipts: ["test_acked_id_may_be_pushed_again"],
    PurgeLeavesOne: ["test_purge_dead_removes_every_letter_and_nothing_else"],
    RunningCountedAsWaiting: [
        "test_counts_each_state",
        "test_counts_an_ended_lease_as_waiting",
        "test_delete_dead_never_touches_a_live_task",
    ],
    DeadLettersKeptForever: [
        "test_dead_letters_over_the_cap_drop_the_oldest",
        "test_an_unreadable_record_counts_against_the_cap",
        "test_dead_letters_past_their_ttl_are_dropped_when_one_is_written",
        "test_dead_letters_past_their_ttl_are_dropped_when_listed",
    ],
    WaitingListedInPushOrder: ["test_tasks_lists_waiting_in_fifo_order"],
}
