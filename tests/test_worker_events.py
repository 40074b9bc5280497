"""Worker events (STARTED/FINISHED for listeners) and the live-worker registry (heartbeats)."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
import worker_tasks

from alligator import Gator, Worker, events, presence
from alligator.constants import SUCCESS
from alligator_locmem import LocmemBackend


@pytest.fixture(autouse=True)
def _clean_events() -> Iterator[None]:
    worker_tasks.EVENTS.clear()
    yield


@pytest.fixture
def gator() -> Iterator[Gator]:
    g = worker_tasks.fresh_gator()
    yield g
    g.drop_all()


class RecordingBackend(LocmemBackend):
    """Locmem, whose registry calls are recorded (and kept, as a real registry would)."""

    def __init__(self, conn_string: str = "locmem://") -> None:
        super().__init__(conn_string)
        self.beats: list[tuple[str, str, float]] = []
        self.forgotten: list[str] = []
        self.lock = threading.Lock()

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        with self.lock:
            self.beats.append((worker_id, record, ttl))

    def forget_worker(self, worker_id: str) -> bool:
        self.forgotten.append(worker_id)
        return True


class NoRegistryBackend(LocmemBackend):
    """A store that cannot keep a registry of workers."""

    calls = 0

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        type(self).calls += 1
        raise NotImplementedError("no registry here")

    def forget_worker(self, worker_id: str) -> bool:
        raise NotImplementedError("no registry here")


def _gator(backend_class: type[LocmemBackend]) -> Gator:
    return Gator(f"locmem://{uuid.uuid4().hex}", allow=["worker_tasks"], backend_class=backend_class)


def test_started_comes_before_the_function_and_finished_after_with_the_outcome(gator: Gator) -> None:
    ok = gator.task(worker_tasks.sleep, 0.01, "ok")
    with gator.options(retries=1, retry_delay=0.01, retry_jitter=False) as opts:
        opts.task(worker_tasks.spin_for, 0.5, "late")
    seen: list[tuple[events.TaskEvent, list[object]]] = []
    worker = Worker(gator, max_tasks=3, time_limit=0.2)
    worker.add_listener(lambda event: seen.append((event, worker_tasks.names("start"))))
    assert worker.run_forever() == 3
    kinds = [(e.kind, e.task_id, e.outcome) for e, _ in seen]
    late_id = next(e.task_id for e, _ in seen if e.task_id != ok.task_id)
    assert kinds == [
        (events.STARTED, ok.task_id, None),
        (events.FINISHED, ok.task_id, "succeeded"),
        (events.STARTED, late_id, None),
        (events.FINISHED, late_id, "retrying"),
        (events.STARTED, late_id, None),
        (events.FINISHED, late_id, "dead-lettered"),
    ]
    first, started_then = seen[0]
    assert started_then == [], "STARTED must come before the function runs"
    assert first.function == "worker_tasks:sleep" and first.attempt == 1 and first.receipt
    assert first.time_limit == 0.2 and first.queue == gator.queue_name
    finished = seen[1][0]
    assert finished.duration is not None and finished.duration >= 0.01
    assert seen[4][0].attempt == 2


def test_a_delivery_that_never_ran_is_finished_without_started(gator: Gator) -> None:
    gator.backend.push(gator.queue_name, "junk", "not json")
    seen: list[events.TaskEvent] = []
    worker = Worker(gator, max_tasks=1)
    worker.add_listener(seen.append)
    worker.run_forever()
    assert [(e.kind, e.task_id, e.function, e.outcome) for e in seen] == [
        (events.FINISHED, "junk", "", "dead-lettered")
    ]


def test_a_raising_listener_is_logged_and_ignored(gator: Gator, caplog: pytest.LogCaptureFixture) -> None:
    task = gator.task(worker_tasks.sleep, 0.001, "fine")

    def broken(event: events.TaskEvent) -> None:
        raise RuntimeError("listener bug")

    worker = Worker(gator, max_tasks=1)
    worker.add_listener(broken)
    assert worker.run_forever() == 1
    assert gator.status(task.task_id) == SUCCESS
    assert "listener raised" in caplog.text


def test_heartbeats_list_the_running_tasks_and_the_record_is_removed_on_stop() -> None:
    gator = _gator(RecordingBackend)
    backend = gator.backend
    assert isinstance(backend, RecordingBackend)
    tasks = [gator.task(worker_tasks.sleep, 0.6, n) for n in range(2)]
    worker = Worker(gator, max_tasks=2, concurrency=2, queues=[gator.queue_name, "other"])
    worker.heartbeat_seconds = 0.05
    worker.run_forever()
    with backend.lock:
        beats = list(backend.beats)
    assert len(beats) >= 3
    assert {worker_id for worker_id, _, _ in beats} == {worker.worker_id}
    assert {ttl for _, _, ttl in beats} == {presence.WORKER_TTL}
    infos = [presence.decode(worker_id, record) for worker_id, record, _ in beats]
    assert all(info is not None for info in infos)
    first = infos[0]
    assert first is not None and first.current == () and first.tasks_handled == 0
    assert (first.host, first.pid, first.queues, first.concurrency) == (
        socket.gethostname(),
        os.getpid(),
        (gator.queue_name, "other"),
        2,
    )
    running = {t.task_id for info in infos if info is not None for t in info.current}
    assert running == {t.task_id for t in tasks}
    busy = [info for info in infos if info is not None and info.current]
    assert busy[0].current[0].function == "worker_tasks:sleep"
    assert backend.forgotten == [worker.worker_id]
    gator.drop_all()


def test_a_store_without_a_registry_turns_heartbeats_off() -> None:
    gator = _gator(NoRegistryBackend)
    task = gator.task(worker_tasks.sleep, 0.3, "x")
    NoRegistryBackend.calls = 0
    worker = Worker(gator, max_tasks=1)
    worker.heartbeat_seconds = 0.05
    assert worker.run_forever() == 1
    assert gator.status(task.task_id) == SUCCESS
    assert NoRegistryBackend.calls == 1
    gator.drop_all()


def test_worker_ids_are_host_pid_random_and_unique(gator: Gator) -> None:
    one, two = Worker(gator), Worker(gator)
    host, pid, rest = one.worker_id.rsplit(":", 2)
    assert (host, pid) == (socket.gethostname(), str(os.getpid())) and rest
    assert one.worker_id != two.worker_id
