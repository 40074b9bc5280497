"""The kit's tests of the Results capability: results kept with the ack, their lifetime, ``finished()``.

A backend that claims :class:`~alligator.capabilities.Results` adopts
:class:`ResultsContract`; its first test checks the claim. Its groups
(:class:`AckResultsContract`, :class:`ResultLifetimeContract`,
:class:`FinishedContract`) can be adopted one by one as well. Listing
finished tasks is :mod:`alligator.testing.result_listing`, waiting for one
:mod:`alligator.testing.result_waiting`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from alligator import capabilities, reasons
from alligator.backend import Ack, Backend, Finished
from alligator.constants import FAILED, SUCCESS
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import (
    LEASE,
    ContractFixtures,
    PlantRawPayload,
    assert_claims,
    assert_reason,
    hold,
)

# Importable from here, where they were first.
from alligator.testing.result_listing import SucceededListingContract as SucceededListingContract
from alligator.testing.result_waiting import WAIT_DEADLINE as WAIT_DEADLINE
from alligator.testing.result_waiting import WaitFinishedContract as WaitFinishedContract

_held = hold


def _kept(backend: CapableBackend, result: str | None) -> str | None:
    """The result ``finished()`` must hand back: ``result`` where the backend keeps results, else None."""
    return result if capabilities.supports(backend, capabilities.Results) else None


class AckResultsContract(ContractFixtures):
    """``ack_results`` acks and keeps each result in one step, for its TTL on the backend's clock."""

    def test_ack_results_keeps_each_result_with_its_ack(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipts = {task_id: _held(backend, queue, task_id) for task_id in ("a", "b", "c")}
        acks = [Ack(task_id, receipt, f'{{"v": "{task_id}"}}') for task_id, receipt in receipts.items()]
        assert backend.ack_results(queue, acks) == 3
        for task_id in receipts:
            assert backend.status(queue, task_id) == SUCCESS
            found = backend.finished(queue, task_id)
            assert found is not None
            assert (found.task_id, found.status) == (task_id, SUCCESS)
            assert found.result == _kept(backend, f'{{"v": "{task_id}"}}')
            assert found.reason is None
        assert backend.ack_results(queue, acks) == 0, "a second ack of the same deliveries takes no effect"

    def test_ack_results_with_a_stale_receipt_keeps_nothing(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, 10.0)
        clock.advance(11.0)  # that worker stalled; its lease ended
        [second] = backend.reserve(queue, LEASE)
        assert backend.ack_results(queue, [Ack("t1", first.receipt, '"stale"')]) == 0
        assert backend.finished(queue, "t1") is None, "still running under the second delivery"
        assert backend.ack_results(queue, [Ack("t1", "not-a-receipt", '"forged"')]) == 0
        assert backend.ack(queue, "t1", second.receipt), "the live delivery acks, keeping no result"
        found = backend.finished(queue, "t1")
        assert found is not None and (found.status, found.result) == (SUCCESS, None), (
            "a refused ack must not have kept its result"
        )

    def test_ack_results_counts_only_the_acks_that_took_effect(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        good, other = _held(backend, queue, "good"), _held(backend, queue, "other")
        acks = [Ack("good", good, '"g"'), Ack("gone", "nope", '"x"'), Ack("other", other, None)]
        assert backend.ack_results(queue, acks) == 2
        assert backend.finished(queue, "gone") is None, "a refused ack leaves no trace"
        assert backend.status(queue, "gone") is None

    def test_ack_results_with_no_result_keeps_none(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, None)]) == 1
        found = backend.finished(queue, "t1")
        assert found == Finished("t1", SUCCESS, None, None, _at(backend, "t1", queue))

    def test_a_new_result_replaces_the_old_one(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"old"')]) == 1
        # An acked id may be pushed again; while it is live, it is not finished.
        receipt = _held(backend, queue, "t1")
        assert backend.finished(queue, "t1") is None, "a live task is not finished, whatever it returned"
        assert backend.ack_results(queue, [Ack("t1", receipt, '"new"')]) == 1
        found = backend.finished(queue, "t1")
        assert found is not None and found.result == _kept(backend, '"new"')

    def test_an_acked_id_pushed_again_forgets_its_kept_result(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"old"')]) == 1
        # The push forgets the old run's result at once: cancelled, or run
        # again without a result, the id never hands out the old value.
        assert backend.push(queue, "t1", "again")
        assert backend.cancel(queue, "t1")
        assert backend.finished(queue, "t1") is None, "the push forgot the old result"
        assert backend.status(queue, "t1") is None
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, None)]) == 1
        found = backend.finished(queue, "t1")
        assert found is not None and (found.status, found.result) == (SUCCESS, None)

    def test_results_cross_unchanged(self, backend: CapableBackend, clock: FakeClock, queue: str) -> None:
        texts = ['"nul \\u0000 escaped"', '["é", "\U0001f40a"]', "null", '""', "[" + "1," * 20_000 + "1]"]
        acks = [Ack(f"t{n}", _held(backend, queue, f"t{n}"), text) for n, text in enumerate(texts)]
        assert backend.ack_results(queue, acks) == len(texts)
        for n, text in enumerate(texts):
            found = backend.finished(queue, f"t{n}")
            assert found is not None and found.result == _kept(backend, text)

    def test_a_reader_never_sees_success_without_its_result(
        self, backend: CapableBackend, other_backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        # The result rides on the ack: one atomic step, so no reader, on any
        # client, ever finds the task finished with its result still missing.
        other_backend.clock = clock
        total = 40
        backend.push_many(queue, [(f"t{n}", "x", 0.0) for n in range(total)])
        held = backend.reserve(queue, LEASE, total)
        assert len(held) == total
        done = threading.Event()
        seen: list[tuple[str, str | None]] = []
        errors: list[BaseException] = []

        def ack_one_by_one() -> None:
            try:
                for reservation in held:
                    result = f'"{reservation.task_id}"'
                    other_backend.ack_results(queue, [Ack(reservation.task_id, reservation.receipt, result)])
            except BaseException as error:
                errors.append(error)
            finally:
                done.set()

        acker = threading.Thread(target=ack_one_by_one)
        acker.start()
        finished_ids: set[str] = set()
        while True:
            last_pass = done.is_set()
            for reservation in held:
                if reservation.task_id in finished_ids:
                    continue
                found = backend.finished(queue, reservation.task_id)
                if found is not None:
                    finished_ids.add(reservation.task_id)
                    seen.append((reservation.task_id, found.result))
            if last_pass or len(finished_ids) == total:
                break  # one whole pass after the acker ended; what is missing is reported below
        acker.join(WAIT_DEADLINE)
        if errors:
            raise errors[0]
        assert len(finished_ids) == total, f"{total - len(finished_ids)} acked tasks were never finished"
        torn = [(task_id, result) for task_id, result in seen if result != _kept(backend, f'"{task_id}"')]
        assert not torn, f"finished() saw SUCCESS before the result was kept: {torn[:5]}"


def _at(backend: CapableBackend, task_id: str, queue: str) -> float | None:
    """The ``finished_at`` a backend reported, checked to be None or close to now on its clock."""
    found = backend.finished(queue, task_id)
    assert found is not None
    if found.finished_at is not None:
        assert abs(found.finished_at - backend.now()) < 1.0, "finished_at is on the backend's clock"
    return found.finished_at


class ResultLifetimeContract(ContractFixtures):
    """A result is kept ``result_ttl`` seconds on the backend's clock, never handed out over the limit.

    A class that overrides the ``plant_raw_result`` fixture also gets
    ``test_finished_never_hands_out_a_result_that_is_not_utf8``; without
    it, that test is left out of the class (not collected, never skipped).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = next(klass for klass in cls.__mro__ if "plant_raw_result" in vars(klass))
        # pytest collects only callables: None leaves the test out.
        cls.test_finished_never_hands_out_a_result_that_is_not_utf8 = (  # type: ignore[attr-defined]
            None if owner is ResultLifetimeContract else ResultLifetimeContract._result_not_utf8
        )

    @pytest.fixture
    def plant_raw_result(self) -> PlantRawPayload:
        """Overwrites a kept result's stored bytes, as a hostile writer would; optional.

        Override it to return ``plant(queue, task_id, data)``, which replaces
        the stored result of a task just acked with a result (kept for an
        hour) by exactly the bytes ``data``, leaving its TTL alone. A store of
        text stores what it would hold for such bytes (locmem:
        ``data.decode("utf-8", "surrogateescape")``).
        """
        raise NotImplementedError("override the 'plant_raw_result' fixture")

    def _result_not_utf8(
        self, backend: CapableBackend, clock: FakeClock, queue: str, plant_raw_result: PlantRawPayload
    ) -> None:
        receipt = _held(backend, queue, "bad")
        good = _held(backend, queue, "good")
        assert backend.ack_results(queue, [Ack("bad", receipt, '"x"'), Ack("good", good, '"fine"')]) == 2
        plant_raw_result(queue, "bad", b'"\xff\xfe"')
        found = backend.finished(queue, "bad")
        assert found is not None and (found.status, found.result) == (SUCCESS, None)
        if capabilities.supports(backend, capabilities.Results):
            assert found.reason is not None
            assert_reason(found.reason, reasons.not_utf8(reasons.RESULT))
        fine = backend.finished(queue, "good")
        assert fine is not None and fine.result == _kept(backend, '"fine"'), "the others are unharmed"

    def test_result_is_kept_for_its_ttl_on_the_backend_clock(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"value"', result_ttl=100.0)]) == 1
        clock.advance(50.0)
        found = backend.finished(queue, "t1")
        assert found is not None and found.result == _kept(backend, '"value"'), "kept at half its TTL"
        clock.advance(51.0)
        # Read-time check: no other step has to run for an old result to go.
        found = backend.finished(queue, "t1")
        assert found is not None, "the status outlives a shorter result"
        assert (found.status, found.result) == (SUCCESS, None), "gone once its TTL passed"

    def test_a_result_outlives_the_status_when_its_ttl_is_longer(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        ttl = backend.status_ttl
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"long"', result_ttl=ttl * 4)]) == 1
        clock.advance(ttl * 2)
        # Another finish makes a backend that tidies lazily tidy up.
        other = _held(backend, queue, "t2")
        assert backend.ack_results(queue, [Ack("t2", other, None)]) == 1
        found = backend.finished(queue, "t1")
        if capabilities.supports(backend, capabilities.Results):
            assert found is not None and (found.status, found.result) == (SUCCESS, '"long"')
        else:
            assert found is None, "with no result kept, the status alone is remembered"

    def test_status_agrees_with_finished_while_a_result_outlives_the_status(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        ttl = backend.status_ttl
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"long"', result_ttl=ttl * 4)]) == 1
        clock.advance(ttl * 2)
        other = _held(backend, queue, "t2")
        assert backend.ack_results(queue, [Ack("t2", other, None)]) == 1
        found = backend.finished(queue, "t1")
        assert backend.status(queue, "t1") == (None if found is None else found.status), (
            "status() says what finished() says: SUCCESS while the result is kept"
        )
        clock.advance(ttl * 3)
        assert backend.finished(queue, "t1") is None and backend.status(queue, "t1") is None

    def test_a_finished_task_is_forgotten_once_result_and_status_are_gone(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"short"', result_ttl=10.0)]) == 1
        clock.advance(backend.status_ttl * 1.5 + 1.0)
        other = _held(backend, queue, "t2")
        assert backend.ack_results(queue, [Ack("t2", other, None)]) == 1
        assert backend.finished(queue, "t1") is None

    def test_finished_never_hands_out_a_result_over_the_limit(
        self, backend: CapableBackend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        receipt = _held(backend, queue, "wide")
        small = _held(backend, queue, "small")
        result = '"' + "é" * 30 + '"'  # 62 bytes of UTF-8, 32 characters
        assert backend.ack_results(queue, [Ack("wide", receipt, result), Ack("small", small, '"ok"')]) == 2
        payload_limit(40)
        found = backend.finished(queue, "wide")
        assert found is not None and (found.status, found.result) == (SUCCESS, None)
        if capabilities.supports(backend, capabilities.Results):
            assert found.reason is not None
            assert_reason(found.reason, reasons.too_large(reasons.RESULT, 62, 40))
        fits = backend.finished(queue, "small")
        assert fits is not None and fits.result == _kept(backend, '"ok"')


class FinishedContract(ContractFixtures):
    """``finished()``: SUCCESS for an acked task, FAILED for a dead letter, None for anything else."""

    def test_finished_for_a_plain_ack_is_success_without_a_result(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack(queue, "t1", receipt)
        found = backend.finished(queue, "t1")
        assert found is not None
        assert (found.task_id, found.status, found.result, found.reason) == ("t1", SUCCESS, None, None)
        _at(backend, "t1", queue)

    def test_finished_reports_a_dead_letter_with_its_reason_and_time(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        failed_at = backend.now()
        assert backend.dead_letter(queue, "t1", receipt, "it broke: \x00 é")
        clock.advance(5.0)
        found = backend.finished(queue, "t1")
        assert found is not None
        assert (found.task_id, found.status, found.result, found.reason) == (
            "t1",
            FAILED,
            None,
            "it broke: \x00 é",
        )
        assert found.finished_at == pytest.approx(failed_at), "when it was dead-lettered, not now"

    def test_status_says_failed_while_the_dead_letter_is_kept(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.dead_letter(queue, "t1", receipt, "broke")
        clock.advance(backend.status_ttl * 2)
        other = _held(backend, queue, "t2")
        assert backend.ack(queue, "t2", other)
        found = backend.finished(queue, "t1")
        assert found is not None and found.status == FAILED
        assert backend.status(queue, "t1") == FAILED, (
            "status() says what finished() says, past status_ttl too"
        )

    def test_a_dead_letter_after_an_older_success_says_failed(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"first run"')]) == 1
        receipt = _held(backend, queue, "t1")
        assert backend.dead_letter(queue, "t1", receipt, "second run broke")
        found = backend.finished(queue, "t1")
        assert found is not None and (found.status, found.result, found.reason) == (
            FAILED,
            None,
            "second run broke",
        )

    def test_finished_is_none_while_waiting_delayed_running_or_unknown(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "waiting", "x")
        backend.push(queue, "delayed", "x", delay=60.0)
        backend.push(queue, "running", "x")
        assert backend.get(queue, "running", LEASE) is not None
        for task_id in ("waiting", "delayed", "running", "unknown"):
            assert backend.finished(queue, task_id) is None, task_id
        backend.push(queue, "requeued", "x")
        receipt = backend.get(queue, "requeued", LEASE)
        assert receipt is not None and backend.dead_letter(queue, "requeued", receipt.receipt, "why")
        assert backend.requeue(queue, "requeued")
        assert backend.finished(queue, "requeued") is None, "a requeued letter is live again"

    def test_finished_of_another_queue_is_none(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"mine"')]) == 1
        neighbour = f"{queue}-neighbour"
        try:
            assert backend.finished(neighbour, "t1") is None
        finally:
            backend.drop_all(neighbour)

    def test_finished_changes_nothing(self, backend: CapableBackend, clock: FakeClock, queue: str) -> None:
        receipt = _held(backend, queue, "done")
        assert backend.ack_results(queue, [Ack("done", receipt, '"v"')]) == 1
        backend.push(queue, "live", "x")
        for task_id in ("done", "live", "unknown"):
            backend.finished(queue, task_id)
        assert backend.finished(queue, "done") == backend.finished(queue, "done")
        [got] = backend.reserve(queue, LEASE)
        assert (got.task_id, got.attempts) == ("live", 1)
        assert backend.len(queue) == 0


class ResultsContract(AckResultsContract, ResultLifetimeContract, FinishedContract):
    """Every rule of :class:`~alligator.capabilities.Results`, for a backend that claims it."""

    def test_the_backend_claims_results(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.Results, "ResultsContract")
