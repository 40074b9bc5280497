"""What the core does, written once, for a store that lacks an optional capability.

Each function uses the capability when the store claims it and otherwise
does the next best thing with the required part of the contract, so callers
never need to know which stores have what.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from alligator import capabilities
from alligator.constants import FAILED, SUCCESS
from alligator.store_values import Ack, Finished

if TYPE_CHECKING:
    from alligator.backend import Backend

#: The reason a store without dead-letter administration gives for a failed task.
NO_REASON_KEPT = "failed (this store keeps no failure reasons)"


def ack_results(backend: Backend, queue: str, acks: Sequence[Ack]) -> int:
    """Acks ``acks``, keeping their results where the store can (:class:`~alligator.capabilities.Results`).

    Returns:
        How many acks took effect.
    """
    if capabilities.supports(backend, capabilities.Results):
        return capabilities.results(backend).ack_results(queue, acks)
    return backend.ack_many(queue, [(ack.task_id, ack.receipt) for ack in acks])


def finished(backend: Backend, queue: str, task_id: str) -> Finished | None:
    """Reads what the store remembers of a finished task, as :meth:`~alligator.capabilities.Results.finished`.

    A store without results still tells SUCCESS from FAILED through
    :meth:`~alligator.backend.Backend.status`; the reason of a failure comes
    from its dead letter when the store can list them.
    """
    if capabilities.supports(backend, capabilities.Results):
        return capabilities.results(backend).finished(queue, task_id)
    status = backend.status(queue, task_id)
    if status == SUCCESS:
        return Finished(task_id, SUCCESS)
    if status != FAILED:
        return None
    if capabilities.supports(backend, capabilities.Administration):
        for letter in capabilities.administration(backend).dead_letters(queue, backend.max_dead_letters):
            if letter.task_id == task_id:
                return Finished(task_id, FAILED, None, letter.reason, letter.failed_at)
    return Finished(task_id, FAILED, None, NO_REASON_KEPT)


def finished_queues(backend: Backend) -> list[str]:
    """The queues that remember a finished task, where the store can list them; otherwise none."""
    if capabilities.supports(backend, capabilities.ResultListing):
        return capabilities.result_listing(backend).finished_queues()
    return []


def task_loss_risks(backend: Backend) -> list[tuple[str, str]]:
    """The store's settings that lose tasks, where it can check them; otherwise none found."""
    if capabilities.supports(backend, capabilities.Diagnosis):
        return list(capabilities.diagnosis(backend).task_loss_risks())
    return []


def wait_for_work(backend: Backend, queues: Sequence[str], timeout: float) -> bool:
    """Waits for work on ``queues`` woken by it where the store can
    (:class:`~alligator.capabilities.Waking`), or after a short nap.

    Returns:
        True when woken by work (it may be gone already); False otherwise.
    """
    if capabilities.supports(backend, capabilities.Waking):
        return cast(capabilities.Waking, backend).wait_for_work(queues, timeout)
    time.sleep(min(max(timeout, 0.0), 0.1))
    return False


def wait_finished(backend: Backend, queue: str, task_id: str, timeout: float) -> Finished | None:
    """Waits up to ``timeout`` seconds for a task to finish, woken by it
    (:class:`~alligator.capabilities.ResultWaiting`) or polling.

    Polling looks at :func:`finished` from 10 ms, backing off to
    250 ms between looks.

    Returns:
        As :func:`finished`, as soon as it is not None; None at the timeout.
    """
    if capabilities.supports(backend, capabilities.ResultWaiting):
        return cast(capabilities.ResultWaiting, backend).wait_finished(queue, task_id, timeout)
    deadline = time.monotonic() + max(timeout, 0.0)
    pause = 0.01
    while True:
        found = finished(backend, queue, task_id)
        left = deadline - time.monotonic()
        if found is not None or left <= 0:
            return found
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.25)
