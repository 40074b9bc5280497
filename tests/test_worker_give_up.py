"""A worker that gives up (a second signal) leaves nothing reserved, not even a reservation in flight."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import sample_tasks

from alligator import Gator, Worker
from alligator.backend import Reservation
from alligator.constants import RUNNING, WAITING
from alligator_locmem import LocmemBackend


class SlowToReturn(LocmemBackend):
    """A store whose blocking reserve returns late when it caught a task while the worker stops.

    A thread blocked in reserve wakes on the task the worker hands back, and
    returns it only after the worker's own shutdown steps had time to end.
    """

    stopping = threading.Event()

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        queue, got = super().reserve_first(queues, lease_seconds, limit, timeout)
        if got and self.stopping.is_set():
            time.sleep(0.5)
        return queue, got


def test_a_reservation_in_flight_at_a_second_signal_is_handed_back_before_the_worker_returns(
    tmp_path: Path,
) -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", allow=["sample_tasks"], backend_class=SlowToReturn)
    SlowToReturn.stopping.clear()
    # Long enough that the worker cannot finish it between the two signals;
    # the thread left behind only touches a file of this test's own.
    task = gator.task(sample_tasks.touch, str(tmp_path / "ran"), 20.0)
    # Two threads: one runs the hung task, the other waits in a blocking reserve.
    worker = Worker(gator, concurrency=2, lease_seconds=60)

    def signal_twice() -> None:
        deadline = time.monotonic() + 60
        while gator.status(task.task_id) != RUNNING and time.monotonic() < deadline:
            time.sleep(0.01)
        SlowToReturn.stopping.set()
        os.kill(os.getpid(), signal.SIGINT)
        # The second only once the first is seen (the worker then still runs the task).
        while not worker._stopping.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=signal_twice)
    sender.start()
    try:
        worker.run_forever()
    finally:
        sender.join()
    assert worker.abandoned
    # Handed back by the give-up, caught again by the waiting thread's reserve,
    # and handed back by it too: waiting, not leased to a worker that is gone.
    assert gator.status(task.task_id) == WAITING
    gator.drop_all()
