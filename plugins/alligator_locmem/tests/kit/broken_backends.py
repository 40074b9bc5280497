"""Variants of :class:`~alligator_locmem.LocmemBackend`, the reference backend, that each break one rule.

Each reproduces a bug a real backend had (issue 8's findings, issue 10's
trial backend) or could easily have; ``test_kit.py`` shows the kit fails
every one of them, naming the tests that must catch it. Each overrides as
little of locmem as it can: one of its small methods where one holds the
rule, else the public method, rewritten with the bug. The variants of the
optional capabilities are in :mod:`broken_capabilities`; :data:`BROKEN`
lists them all.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Sequence

from broken_capabilities import (
    DeadLettersKeptForever,
    DelayedPriorityJumpsAhead,
    DiagnoseUnknownLevel,
    FinishedIgnoresLiveTasks,
    ForgetAlwaysTrue,
    LimitCountedPerProcess,
    NotUtf8ResultHandedOut,
    OversizedResultHandedOut,
    PriorityByAge,
    PriorityIgnored,
    PurgeLeavesOne,
    RequeueOverwritesLiveTask,
    ResultKeptOnRefusedAck,
    ResultNeverExpires,
    ResultStoredAfterTheAck,
    RunningCountedAsWaiting,
    SlotNeverFreed,
    TickPushedTwice,
    UniqueKeyHeldPastItsWindow,
    UniqueKeyNeverReleased,
    UniquePushNotAtomic,
    WaitFinishedLooksOnce,
    WaitingListedInPushOrder,
    WaitWithoutBooking,
    WakeLooksAtTheFirstQueueOnly,
    WorkersNeverExpire,
    WorkersUnbounded,
)
from shared_file import InProcessLockOnly

from alligator import reasons
from alligator.backend import Backend, Reservation
from alligator_locmem import LocmemBackend, _Entry
from alligator_locmem.store import _Queue, _stored_bytes


class FailuresNotCounted(LocmemBackend):
    """``release(attempted=True)`` forgets to count a failure."""

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        with self._cond:
            entry = self._held(self._queue(queue), task_id, receipt)
            failures = 0 if entry is None else entry.failures
            released = super().release(queue, task_id, receipt, delay, attempted)
            if entry is not None and released:
                entry.failures = failures
            return released


class PushOverDeadLetter(LocmemBackend):
    """``push`` checks only live tasks, so an id can be live and dead at once."""

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        with self._cond:
            q = self._queue(queue)
            letter = q.dead.pop(task_id, None)
            try:
                return super().push(queue, task_id, payload, delay)
            finally:
                if letter is not None:
                    q.dead[task_id] = letter


class UnreadableRecordHaltsReserve(LocmemBackend):
    """Decodes every record it meets: one that is not UTF-8 makes every reserve raise (issue 8, finding 1)."""

    def _refusal(self, payload: str) -> str | None:
        payload.encode("utf-8")  # raises, as a driver decoding the row would
        return super()._refusal(payload)

    def _lease(self, q: _Queue, task_id: str, entry: _Entry, lease_end: float) -> Reservation | None:
        # The record stays where it was, as a read that raised leaves it.
        try:
            return super()._lease(q, task_id, entry, lease_end)
        except UnicodeEncodeError:
            entry.attempts -= 1
            self._enqueue(q, task_id, entry, entry.due)
            raise


class OversizedRecordHandedOut(LocmemBackend):
    """Never checks the size, so any record reaches the worker's memory (issue 8, finding 11)."""

    def _refusal(self, payload: str) -> str | None:
        return None if _stored_bytes(payload)[1] else reasons.not_utf8(reasons.PAYLOAD)


class NulCutOff(LocmemBackend):
    """Stores text as C strings do: a payload or reason ends at its first NUL (issue 10, item 8)."""

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        return super().push(queue, task_id, payload.split("\x00")[0], delay)

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        return super().dead_letter(queue, task_id, receipt, reason.split("\x00")[0])


class NanDelayAccepted(LocmemBackend):
    """Takes any delay, so a NaN one queues a task that is never due (issue 8, finding 5)."""

    @staticmethod
    def _check_delay(delay: float) -> None:
        pass

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        # Past the core's own check of the arguments too.
        with self._cond:
            return sum(1 for task_id, payload, delay in items if self.push(queue, task_id, payload, delay))


class PushManyHalfApplied(LocmemBackend):
    """``push_many`` pushes one by one, so items before a NaN delay are added before it raises."""

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        with self._cond:
            # Each push checks its own delay: the items before a NaN are in.
            return sum(1 for task_id, payload, delay in items if self.push(queue, task_id, payload, delay))


class EndedLeaseReceiptAccepted(LocmemBackend):
    """Checks a receipt, not whether its lease ended, until the task is reserved again (issue 10, item 4)."""

    def _held(self, q: _Queue, task_id: str, receipt: str) -> _Entry | None:
        entry = q.reserved.get(task_id)
        if entry is not None and entry.receipt == receipt:
            return entry  # the lapsed lease, taken as still held
        return super()._held(q, task_id, receipt)


class RepeatingReceipts(LocmemBackend):
    """Makes receipts from the id and the delivery count, which recur (issue 10, item 5)."""

    @staticmethod
    def _new_receipt(task_id: str, entry: _Entry) -> str:
        return f"{task_id}:{entry.attempts}"


class LockPerClient(LocmemBackend):
    """Each client serializes with a lock of its own, not the store's (issue 10, item 1, in threads).

    One client alone keeps every rule; two clients of one store read the
    same due tasks and both lease them. The sleep stands for the round trip
    between a store's read and its write.
    """

    def __init__(self, conn_string: str = "locmem://") -> None:
        super().__init__(conn_string)
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        self._done = threading.Condition(lock)

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            self._reclaim_expired(q, now)
            due = sorted(
                (entry.due, entry.seq, task_id) for task_id, entry in q.waiting.items() if entry.due <= now
            )
            time.sleep(0.02)
            taken = []
            for _, _, task_id in due[:limit]:
                # Tasks another client acked meanwhile are gone; the others are leased again.
                entry = q.waiting.pop(task_id, None) or q.reserved.get(task_id)
                if entry is not None:
                    taken.append(self._lease(q, task_id, entry, now + lease_seconds))
            return [reservation for reservation in taken if reservation is not None]


class ReleaseKeepsItsPlace(LocmemBackend):
    """A released task keeps its old place, ahead of tasks that became due before it (issue 10, item 2)."""

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        with self._cond:
            q = self._queue(queue)
            entry = self._held(q, task_id, receipt)
            due, seq = (entry.due, entry.seq) if entry is not None else (0.0, 0)
            released = super().release(queue, task_id, receipt, delay, attempted)
            if entry is not None and released and delay <= 0:
                entry.due, entry.seq = due, seq
                heapq.heappush(q.heap, (due, seq, task_id))
            return released


class ReleaseKeepsItsTurn(LocmemBackend):
    """A released task is due from its release but keeps its old turn among tasks due then (issue 17).

    Its due time is right, its tie-break is not: a store ordering by ``(due,
    push sequence)`` and updating only the due time on release. It passes
    every test whose clock moves between the pushes and the release.
    """

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        with self._cond:
            q = self._queue(queue)
            entry = self._held(q, task_id, receipt)
            seq = entry.seq if entry is not None else 0
            released = super().release(queue, task_id, receipt, delay, attempted)
            if entry is not None and released:
                entry.seq = seq
                heapq.heappush(q.heap, (entry.due, seq, task_id))
            return released


class ClientRaisesMidway(LocmemBackend):
    """Every client but the first raises on its third ``reserve``: a store whose connection drops.

    Not in :data:`BROKEN`: the kit fails it anyway; ``test_kit.py`` checks that
    the test with clients in threads fails *at once*, with the client's
    error, instead of leaving the other clients waiting for it.
    """

    def __init__(self, conn_string: str = "locmem://", raises: bool = False) -> None:
        super().__init__(conn_string)
        self._raises = raises
        self._reserves = 0

    def another_client(self) -> ClientRaisesMidway:
        """A second client of the same store, one that raises."""
        return ClientRaisesMidway(self.conn_string, raises=True)

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        self._reserves += 1
        if self._raises and self._reserves == 3:
            raise ConnectionError("the store went away (ClientRaisesMidway)")
        return super().reserve(queue, lease_seconds, limit, timeout)


class ExpiredLeaseDueAtPushTime(LocmemBackend):
    """A task whose lease ended is due at its old due time, not at the lease's end (issue 10, item 3)."""

    def _reclaim_expired(self, q: _Queue, now: float) -> None:
        for task_id, entry in list(q.reserved.items()):
            if entry.lease_end <= now:
                del q.reserved[task_id]
                self._enqueue(q, task_id, entry, entry.due)


class ExpiredLeaseNeverReturns(LocmemBackend):
    """A lease that ends leaves its task reserved for good (issue 10, item 6)."""

    def _reclaim_expired(self, q: _Queue, now: float) -> None:
        pass


class LeaseEndsAfterItsEnd(LocmemBackend):
    """A lease ends once ``now`` *passes* its end, as the old words said, not at it (issue 10, item 7)."""

    def _reclaim_expired(self, q: _Queue, now: float) -> None:
        for task_id, entry in list(q.reserved.items()):
            if entry.lease_end < now:
                del q.reserved[task_id]
                self._enqueue(q, task_id, entry, entry.lease_end)


class OrderByPushTime(LocmemBackend):
    """Reserves due tasks in push order, ignoring when each became due (issue 10, item 6)."""

    _pushes = itertools.count()

    def __init__(self, conn_string: str = "locmem://") -> None:
        super().__init__(conn_string)
        self._pushed: dict[tuple[str, str], int] = {}

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        with self._cond:
            pushed = super().push(queue, task_id, payload, delay)
            if pushed:
                self._pushed[(queue, task_id)] = next(self._pushes)
            return pushed

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            self._reclaim_expired(q, now)
            due = [task_id for task_id, entry in q.waiting.items() if entry.due <= now]
            due.sort(key=lambda task_id: self._pushed.get((queue, task_id), -1))
            taken = [
                self._lease(q, task_id, q.waiting.pop(task_id), now + lease_seconds)
                for task_id in due[:limit]
            ]
            return [reservation for reservation in taken if reservation is not None]


#: Every broken variant, with the kit tests that must fail for it. The state
#: machine catches several too, but by chance: only named tests are required.
BROKEN: dict[type[Backend], list[str]] = {
    FailuresNotCounted: [
        "test_release_attempted_counts_a_failure",
        "test_release_unattempted_leaves_failures_alone",
        "test_expired_lease_is_not_a_failure",
        "test_get_returns_failures",
        "test_requeue_resets_failures_and_attempts",
    ],
    PushOverDeadLetter: [
        "test_push_over_a_dead_letter_is_refused",
        "test_push_over_a_dead_letter_is_refused_and_leaves_it_failed",
    ],
    UnreadableRecordHaltsReserve: [
        "test_unreadable_records_are_dead_lettered_alone",
        "test_unreadable_records_never_halt_the_queue",
        "test_get_dead_letters_an_unreadable_record",
        "test_peek_leaves_an_unreadable_record_alone",
        # The same rules, seen through the required methods only.
        "test_unreadable_records_are_failed_alone",
        "test_unreadable_records_never_halt_the_queue_and_end_failed",
        "test_get_fails_an_unreadable_record",
        "test_peek_leaves_an_unreadable_record_waiting",
    ],
    OversizedRecordHandedOut: [
        "test_unreadable_records_are_dead_lettered_alone",
        "test_instance_payload_limit_is_honoured",
        "test_get_honours_the_instance_payload_limit",
        "test_unreadable_records_are_failed_alone",
        "test_instance_payload_limit_is_honoured_in_utf8_bytes",
        "test_get_honours_the_instance_payload_limit_and_fails_the_task",
    ],
    NulCutOff: [
        "test_hard_strings_cross_unchanged",
        "test_hard_strings_cross_push_many_and_get",
        "test_hard_strings_cross_as_payloads_and_reasons",
    ],
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
    LockPerClient: ["test_clients_in_threads_never_hold_a_task_at_once"],
    InProcessLockOnly: ["test_clients_in_processes_never_hold_a_task_at_once"],
    ReleaseKeepsItsPlace: [
        "test_released_task_goes_behind_tasks_due_before_it",
        "test_unattempted_release_goes_behind_too",
    ],
    ReleaseKeepsItsTurn: [
        "test_a_release_at_the_instant_others_are_due_goes_behind_them",
        "test_a_delayed_release_due_with_others_goes_behind_them",
    ],
    ExpiredLeaseDueAtPushTime: ["test_expired_lease_is_due_at_the_lease_end"],
    ExpiredLeaseNeverReturns: [
        "test_expired_lease_comes_back_without_anyone_touching_it",
        "test_expired_lease_is_delivered_again",
        "test_a_lease_is_ended_at_its_end_exactly",
    ],
    LeaseEndsAfterItsEnd: ["test_a_lease_is_ended_at_its_end_exactly"],
    OrderByPushTime: [
        "test_order_is_by_due_time_not_push_time",
        "test_delayed_tasks_come_due_in_time_order",
    ],
    ResultKeptOnRefusedAck: [
        "test_ack_results_with_a_stale_receipt_keeps_nothing",
        "test_ack_results_counts_only_the_acks_that_took_effect",
    ],
    ResultStoredAfterTheAck: ["test_a_reader_never_sees_success_without_its_result"],
    ResultNeverExpires: ["test_result_is_kept_for_its_ttl_on_the_backend_clock"],
    OversizedResultHandedOut: ["test_finished_never_hands_out_a_result_over_the_limit"],
    NotUtf8ResultHandedOut: ["test_finished_never_hands_out_a_result_that_is_not_utf8"],
    FinishedIgnoresLiveTasks: ["test_a_new_result_replaces_the_old_one"],
    WaitFinishedLooksOnce: [
        "test_wait_finished_wakes_when_another_client_acks",
        "test_wait_finished_wakes_for_a_dead_letter",
    ],
    PriorityByAge: ["test_reserve_first_takes_the_first_queue_with_due_work"],
    PriorityIgnored: [
        "test_a_higher_priority_goes_before_older_due_tasks",
        "test_one_reserve_of_several_takes_them_in_priority_order",
        "test_a_released_task_keeps_its_priority",
        "test_priority_survives_a_lease_that_ended",
    ],
    DelayedPriorityJumpsAhead: ["test_a_delayed_task_competes_only_once_it_is_due"],
    WakeLooksAtTheFirstQueueOnly: [
        f"test_wait_for_work_wakes_for_work_in_any_queue[{how}]" for how in ("push", "release", "requeue")
    ],
    WorkersNeverExpire: ["test_a_worker_record_expires_after_its_ttl_on_the_backend_clock"],
    WorkersUnbounded: ["test_the_registry_keeps_at_most_max_workers"],
    ForgetAlwaysTrue: ["test_forget_worker_removes_its_record"],
    DiagnoseUnknownLevel: ["test_diagnose_returns_findings_with_known_levels"],
    UniqueKeyNeverReleased: [
        *(f"test_the_key_is_released_when_its_holder_is_acked[{mode}]" for mode in ("until_finished",)),
        "test_the_key_is_released_when_its_holder_is_dead_lettered",
        "test_the_key_is_released_when_its_holder_is_cancelled_or_dropped",
        "test_until_started_is_free_once_its_holder_runs",
    ],
    UniqueKeyHeldPastItsWindow: ["test_no_key_is_held_past_its_window"],
    UniquePushNotAtomic: ["test_pushes_racing_on_one_key_queue_one_task"],
    TickPushedTwice: [
        "test_a_tick_that_already_ran_is_not_enqueued_again",
        "test_a_tick_is_pushed_and_recorded_once",
    ],
    LimitCountedPerProcess: [
        "test_a_rate_is_shared_by_every_client_of_the_store",
        "test_slots_are_shared_by_every_client_of_the_store",
    ],
    SlotNeverFreed: ["test_a_slot_frees_itself_when_its_lease_ends"],
    WaitWithoutBooking: ["test_a_take_over_the_rate_books_one_slot_for_its_holder"],
}
