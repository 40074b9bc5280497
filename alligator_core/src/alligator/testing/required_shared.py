"""The required contract with several clients of one store, in threads and in processes.

Part of :class:`~alligator.testing.contract.RequiredContract`: no task is
handed out to two clients at once, whichever process they live in.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import threading
import traceback
from pathlib import Path

from alligator.backend import Backend
from alligator.testing.fixtures import BackendFactory, ContractFixtures

#: The lease of the tests with several clients, long enough that no lease
#: ends during a test on a busy machine. So every second delivery of a task
#: before its ack or release is one made while its lease was held.
SHARED_LEASE = 600.0

#: How long the tests with several clients wait for their threads or processes.
SHARED_DEADLINE = 300.0

#: One delivery as the clients of those tests log it. Task id, attempts,
#: what the client did ("ack" or "release") and whether the backend agreed.
Delivery = tuple[str, int, str, bool]


#: How many times the clients of those tests reserve together.
SHARED_ROUNDS = 30


def _consume(backend: Backend, queue: str, together: threading.Barrier | None = None) -> list[Delivery]:
    """Reserves and settles tasks, logging each delivery.

    A task whose id starts with ``r`` is released (due now, attempted) on its
    first delivery and acked on its second; every other task is acked. With
    ``together``, a barrier all clients share, every client reserves at the
    same moment, and settles only once every client has reserved,
    :data:`SHARED_ROUNDS` times: a store that lets two clients read the same
    due tasks before either leases them shows it in every round. Without
    it, the client reserves until the queue is empty.
    """
    log: list[Delivery] = []
    limits = itertools.cycle((1, 3, 2))
    for round_ in itertools.count():
        if together is not None:
            if round_ == SHARED_ROUNDS:
                return log
            together.wait(SHARED_DEADLINE)
        got = backend.reserve(queue, SHARED_LEASE, next(limits))
        if together is not None:
            # Nobody settles before every client has reserved: a task two
            # clients were handed is then held by both, and seen.
            together.wait(SHARED_DEADLINE)
        elif not got:
            return log
        for reservation in got:
            task_id, attempts = reservation.task_id, reservation.attempts
            if task_id.startswith("r") and attempts == 1:
                log.append(
                    (task_id, attempts, "release", backend.release(queue, task_id, reservation.receipt))
                )
            else:
                log.append((task_id, attempts, "ack", backend.ack(queue, task_id, reservation.receipt)))
    raise AssertionError("unreachable")


def _consume_in_a_process(factory: BackendFactory, queue: str, together: threading.Barrier, out: str) -> None:
    """A process's share of the test with several processes: its log goes to the file ``out``.

    If it raises, it frees the other processes from the barrier at once and
    leaves its traceback in ``out + ".error"`` for the test to show.
    """
    try:
        backend = factory()
        try:
            log = _consume(backend, queue, together)
        finally:
            backend.close()
    except BaseException:
        together.abort()
        Path(out + ".error").write_text(traceback.format_exc(), encoding="utf-8")
        raise
    Path(out).write_text(json.dumps(log), encoding="utf-8")


def _raise_the_first_error(errors: list[tuple[int, BaseException]]) -> None:
    """Re-raises what a client raised first; the others' broken barrier only follows from it."""
    if not errors:
        return
    causes = [(n, e) for n, e in errors if not isinstance(e, threading.BrokenBarrierError)] or errors
    index, error = causes[0]
    raise AssertionError(f"client {index} raised {type(error).__name__}: {error}") from error


def _shared_work(prefix: str, total: int) -> list[tuple[str, str, float]]:
    """``total`` tasks, one in four to be released once (ids starting with ``r``)."""
    return [(f"{'r' if n % 4 == 0 else 'a'}{prefix}-{n}", "x", 0.0) for n in range(total)]


def _assert_each_delivered_once_at_a_time(
    backend: Backend, queue: str, work: list[tuple[str, str, float]], log: list[Delivery]
) -> None:
    """Every task acked once, released tasks released once before, nothing more, nothing left."""
    seen: dict[str, list[tuple[int, str, bool]]] = {}
    for task_id, attempts, action, agreed in log:
        seen.setdefault(task_id, []).append((attempts, action, bool(agreed)))
    twice = {}
    lost = []
    for task_id, _, _ in work:
        expected = [(1, "release", True), (2, "ack", True)] if task_id.startswith("r") else [(1, "ack", True)]
        got = sorted(seen.pop(task_id, []))
        if not got:
            lost.append(task_id)
        elif got != expected:
            twice[task_id] = got
    assert not twice, (
        f"{len(twice)} tasks were delivered again while a lease on them was held "
        f"(deliveries as (attempts, action, accepted)), e.g. {dict(itertools.islice(twice.items(), 5))}"
    )
    assert not lost, f"{len(lost)} tasks were never delivered, e.g. {lost[:5]}"
    assert not seen, f"tasks delivered that were never pushed: {sorted(seen)[:5]}"
    assert backend.len(queue) == 0


class SharedStoreContract(ContractFixtures):
    """Several clients of one store, in threads and in processes: no task is handed out twice at once.

    Needs the ``backend_factory`` fixture. A backend whose steps are
    serialized by a lock inside one process rather than by the store (a row
    lock, a transaction, a server-side script) fails these tests.
    """

    def test_a_second_client_sees_the_same_store(
        self, backend: Backend, other_backend: Backend, queue: str
    ) -> None:
        assert backend.push(queue, "t1", "x")
        assert other_backend.push(queue, "t1", "y") is False, "the second client must see the first's task"
        [got] = other_backend.reserve(queue, SHARED_LEASE)
        assert (got.task_id, got.payload) == ("t1", "x")
        assert backend.reserve(queue, SHARED_LEASE) == []
        assert backend.ack(queue, "t1", got.receipt), "a receipt is good with any client of the store"

    def test_clients_in_threads_never_hold_a_task_at_once(
        self, backend: Backend, other_backend: Backend, queue: str
    ) -> None:
        work = _shared_work("thread", 400)
        assert backend.push_many(queue, work) == len(work)
        clients = [backend, other_backend, backend, other_backend]
        logs: list[list[Delivery]] = [[] for _ in clients]
        errors: list[tuple[int, BaseException]] = []
        together = threading.Barrier(len(clients))

        def run(index: int) -> None:
            try:
                logs[index] = _consume(clients[index], queue, together)
            except BaseException as error:
                errors.append((index, error))
                # The others wait on the barrier for this client: free them now,
                # so the test fails at once with this error, not at the deadline.
                together.abort()

        threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SHARED_DEADLINE)
            assert not thread.is_alive(), f"a client thread did not finish in {SHARED_DEADLINE:g}s"
        _raise_the_first_error(errors)
        # What the rounds left, taken by one client.
        rest = _consume(backend, queue)
        _assert_each_delivered_once_at_a_time(backend, queue, work, [d for log in [*logs, rest] for d in log])

    def test_clients_in_processes_never_hold_a_task_at_once(
        self, backend: Backend, backend_factory: BackendFactory, queue: str, tmp_path: Path
    ) -> None:
        work = _shared_work("process", 300)
        assert backend.push_many(queue, work) == len(work)
        context = multiprocessing.get_context("spawn")
        processes = 3
        together = context.Barrier(processes)
        outs = [str(tmp_path / f"client-{n}.json") for n in range(processes)]
        children = [
            context.Process(target=_consume_in_a_process, args=(backend_factory, queue, together, out))
            for out in outs
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(SHARED_DEADLINE)
            if child.is_alive():
                child.kill()
        raised = [Path(f"{out}.error").read_text("utf-8") for out in outs if Path(f"{out}.error").exists()]
        # The first cause, not the broken barrier it left the other clients.
        causes = [
            text for text in raised if "BrokenBarrierError" not in text.strip().splitlines()[-1]
        ] or raised
        assert not causes, f"a client process raised:\n{causes[0]}"
        for child in children:
            assert child.exitcode == 0, f"a client process ended with {child.exitcode}"
        # What the rounds left, taken by one client.
        log: list[Delivery] = [
            (str(task_id), int(attempts), str(action), bool(agreed))
            for out in outs
            for task_id, attempts, action, agreed in json.loads(Path(out).read_text(encoding="utf-8"))
        ]
        log += _consume(backend, queue)
        _assert_each_delivered_once_at_a_time(backend, queue, work, log)
