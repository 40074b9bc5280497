"""Hostile results: with signing on, what a store writer plants is never handed out as a task's outcome.

Issue 18, finding 1: a writer to the store who lacks the secret reserved a
signed task and acked it with ``{"approved": true}``, and ``gator.result``
returned that for a task that never ran; ``result()`` of an id never queued
returned a value planted for it. Here every attack runs against a real
SQLite file and a real Redis server, written the way such a writer would:
through the backend's own client (reserve, then ack or dead-letter) and with
raw SQL / ``HSET`` past every check (``raw_sqlite`` / ``raw_redis``):

* a task acked, without running, with a forged result;
* a result planted for an id never queued, unsigned and with a made-up
  signature;
* a valid signed result of one task copied to another task, and to the same
  id on another queue;
* a task dead-lettered, without running, with a forged failure reason.

Each ends in :class:`~alligator.exceptions.ResultSignatureError` naming the
task, at once (no wait runs to its end), with nothing planted in it. The
normal path runs end to end through a real worker process holding the
secret: its results and failure reasons are signed, read back by a gator
with the secret (and one mid-rotation, holding a new key first), and shown
plain without the secret.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import reliability_tasks
from reliability_helpers import Store, Workers
from reliability_tasks import LEDGER_ENV, Ledger

from alligator import Gator, capabilities
from alligator.backend import Ack
from alligator.constants import FAILED, SUCCESS
from alligator.exceptions import ResultSignatureError, TaskFailed
from alligator.security import SIGNED_PREFIX

SECRET = "hostile-results-secret-0123456789abcdefgh"  # keys are at least 32 characters
NEW_SECRET = "hostile-results-new-key-0123456789abcdefgh"
PLANTED = '{"approved": true}'


def _signed(store: Store, **kwargs: object) -> Gator:
    return store.gator(secret=SECRET, **kwargs)


def _writer(store: Store, queue: str | None = None) -> Gator:
    """The attacker's handle on the store: its own client, no secret."""
    return Gator(store.dsn, queue_name=queue or store.queue, secret=[])


def _refused(gator: Gator, task_id: str, timeout: float | None = None) -> str:
    with pytest.raises(ResultSignatureError) as caught:
        gator.result(task_id, timeout)
    message = str(caught.value)
    assert task_id in message and "failed its signature check" in message, message
    assert "approved" not in message, message
    return message


def test_a_result_acked_by_a_writer_without_the_secret_is_refused(store: Store) -> None:
    gator = _signed(store)
    task = gator.task(reliability_tasks.record, "never-ran")
    writer = _writer(store)
    (reservation,) = writer.backend.reserve(store.queue, 60.0)
    assert (
        capabilities.results(writer.backend).ack_results(
            store.queue, [Ack(reservation.task_id, reservation.receipt, PLANTED)]
        )
        == 1
    )
    try:
        assert gator.status(task.task_id) == SUCCESS  # the store believes it
        assert "not signed" in _refused(gator, task.task_id)
        _refused(gator, task.task_id, timeout=60.0)  # found at once: nothing to wait for
        with pytest.raises(ResultSignatureError):
            task.wait(60.0)
    finally:
        gator.backend.close()
        writer.backend.close()


def test_a_result_planted_raw_for_an_id_never_queued_is_refused(store: Store) -> None:
    gator = _signed(store)
    gator.counts()  # the backend creates its tables
    forged_signature = f"{PLANTED}\n{SIGNED_PREFIX}{'0' * 64}"
    try:
        store.raw.plant_result(store.dsn, store.queue, "never-queued", PLANTED)
        store.raw.plant_result(store.dsn, store.queue, "never-queued-2", forged_signature)
        assert "not signed" in _refused(gator, "never-queued")
        assert "does not match" in _refused(gator, "never-queued-2", timeout=60.0)
    finally:
        gator.backend.close()


def test_a_signed_result_replayed_for_another_task_or_queue_is_refused(
    store: Store, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LEDGER_ENV, ledger.path)  # the tasks run in this process (gator.pop)
    gator = _signed(store)
    first = gator.task(reliability_tasks.record, "first")
    second = gator.task(reliability_tasks.record, "second")
    other = Gator(store.dsn, queue_name=f"{store.queue}-other", allow=["reliability_tasks"], secret=SECRET)
    writer = _writer(store)
    try:
        for expected in (first, second):
            ran = gator.pop()
            assert ran is not None and ran.task_id == expected.task_id
        assert gator.result(first.task_id) == "first"
        stored = capabilities.results(writer.backend).finished(store.queue, first.task_id)
        assert stored is not None and stored.result is not None
        assert f"\n{SIGNED_PREFIX}" in stored.result  # a valid signature, for the first task
        store.raw.plant_result(store.dsn, store.queue, second.task_id, stored.result)
        store.raw.plant_result(store.dsn, other.queue_name, first.task_id, stored.result)
        assert "does not match" in _refused(gator, second.task_id)
        assert "does not match" in _refused(other, first.task_id)
        assert gator.result(first.task_id) == "first"  # where it belongs, it still reads
    finally:
        if store.name == "redis":
            store.raw.drop(store.dsn, other.queue_name)
        for each in (gator, other, writer):
            each.backend.close()


def test_a_failure_reason_planted_by_a_writer_without_the_secret_is_refused(store: Store) -> None:
    gator = _signed(store)
    task = gator.task(reliability_tasks.record, "never-ran")
    writer = _writer(store)
    (reservation,) = writer.backend.reserve(store.queue, 60.0)
    writer.backend.dead_letter(store.queue, reservation.task_id, reservation.receipt, "approved: call +1 555")
    try:
        assert gator.status(task.task_id) == FAILED
        message = _refused(gator, task.task_id)
        assert "dead letter" in message and "555" not in message
    finally:
        gator.backend.close()
        writer.backend.close()


def test_a_real_worker_signs_results_and_reasons_and_they_read_back(
    store: Store, workers: Callable[..., Workers]
) -> None:
    gator = _signed(store)
    done = gator.task(reliability_tasks.record, "done")
    failed = gator.options(retries=0).task(reliability_tasks.raiser, "failed")
    pool = workers(store, env={"ALLIGATOR_SECRET": SECRET})
    pool.start()
    rotated = store.gator(secret=[NEW_SECRET, SECRET])  # mid-rotation: the old key still verifies
    unsigned = store.gator(secret=[])
    try:
        assert gator.result(done.task_id, timeout=60.0) == "done"
        assert done.wait(60.0) == "done"
        with pytest.raises(TaskFailed) as caught:
            gator.result(failed.task_id, timeout=60.0)
        assert "poison task failed always raises" in caught.value.reason
        assert SIGNED_PREFIX not in caught.value.reason
        assert rotated.result(done.task_id) == "done"
        with pytest.raises(TaskFailed):
            rotated.result(failed.task_id)
        # Without a secret nothing is checked, and nothing shows the signature.
        assert unsigned.result(done.task_id) == "done"
        (letter,) = unsigned.dead_letters()
        assert letter.reason.startswith("raised on attempt 1 of 1") and SIGNED_PREFIX not in letter.reason
        stored = capabilities.results(unsigned.backend).finished(store.queue, done.task_id)
        assert stored is not None and stored.result is not None and SIGNED_PREFIX in stored.result
        # Another key is not this secret: the same result fails its check.
        stranger = store.gator(secret=NEW_SECRET)
        _refused(stranger, done.task_id)
        stranger.backend.close()
        assert pool.stop() == [0]
    finally:
        for each in (gator, rotated, unsigned):
            each.backend.close()


def test_what_a_signature_does_not_stop(
    store: Store, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limits docs/security.md states: a store writer may still replay or settle a whole task."""
    monkeypatch.setenv(LEDGER_ENV, ledger.path)
    gator = _signed(store)
    acked = gator.task(reliability_tasks.record, "acked-unrun")
    replayed = gator.task(reliability_tasks.record, "replayed")
    writer = _writer(store)
    try:
        # Acked without a result: the task looks done, with no value kept.
        (reservation,) = writer.backend.reserve(store.queue, 60.0)
        assert reservation.task_id == acked.task_id
        capabilities.results(writer.backend).ack_results(
            store.queue, [Ack(reservation.task_id, reservation.receipt)]
        )
        assert gator.result(acked.task_id) is None
        # A signed payload read from the store and queued again runs again.
        payload = writer.backend.peek(store.queue, replayed.task_id)
        assert payload is not None
        first_run = gator.pop()
        assert first_run is not None and first_run.task_id == replayed.task_id
        writer.backend.push(store.queue, replayed.task_id, payload)
        second_run = gator.pop()
        assert second_run is not None and second_run.task_id == replayed.task_id
        assert gator.result(replayed.task_id) == "replayed"
        assert len(ledger.refresh().by_key()["replayed"]) == 2
    finally:
        gator.backend.close()
        writer.backend.close()
