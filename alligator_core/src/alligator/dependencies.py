"""The depend step of a delivery: a task runs only once every task it depends on succeeded.

A task queued with ``depends_on`` waits (handed back, uncounted, due again
in :data:`DEPENDENCY_POLL_SECONDS`) while a dependency is pending, and is
dead-lettered when one failed or is unknown, when its pending dependencies
lead back to it (a cycle), or when they reach more than
:data:`~alligator.limits.MAX_DEPENDENCIES` tasks (a cycle could not be ruled
out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.exceptions import InvalidPayloadError, TaskRefused
from alligator.limits import MAX_DEPENDENCIES
from alligator.settling import Refused
from alligator.text import printable
from alligator.verdicts import HandBack

if TYPE_CHECKING:  # pragma: no cover
    from alligator.backend import Backend
    from alligator.delivery import Delivery, DeliveryRules
    from alligator.tasks import Task

#: Seconds a task whose dependencies are still pending waits before it is
#: looked at again.
DEPENDENCY_POLL_SECONDS = 0.5


class DependencyChecks:
    """The depend step of :class:`~alligator.delivery.DeliverySteps` (a mixin: the state is the steps').

    It reads the store (statuses, payloads of dependencies) and writes
    nothing: a wait is a :class:`~alligator.verdicts.HandBack` verdict.
    """

    backend: Backend
    queue: str
    rules: DeliveryRules

    def _dependencies_pending(self, task: Task) -> bool:
        """True while a dependency is pending; raises Refused when one never can succeed."""
        pending = False
        for dependency in task.depends_on:
            status = self.backend.status(self.queue, dependency)
            if status == SUCCESS:
                continue
            if status == FAILED:
                raise Refused(f"dependency {printable(dependency)} failed")
            if status is None:
                raise Refused(
                    f"dependency {printable(dependency)} is unknown: never queued on "
                    f"{printable(self.queue)!r}, cancelled, or finished too long ago to remember"
                )
            pending = True
        if pending:
            cycle = self._dependency_cycle(task)
            if cycle:
                raise Refused("dependency cycle: " + " -> ".join(printable(i, 40) for i in cycle))
        return pending

    def _dependency_cycle(self, task: Task) -> list[str] | None:
        """Finds a chain of pending dependencies leading back to ``task``.

        Reads the payloads of pending dependencies, at most
        :data:`~alligator.limits.MAX_DEPENDENCIES` of them, so a cycle is
        dead-lettered instead of polled for ever. A walk that meets more
        pending tasks than that cannot rule a cycle out, so it refuses the
        task too: pending chains are capped at that many tasks.

        Raises:
            Refused: The pending chain is longer than the cap.
        """
        paths: dict[str, list[str]] = {task.task_id: [task.task_id]}
        frontier = [task.task_id]
        depends = {task.task_id: task.depends_on}
        while frontier:
            current = frontier.pop(0)
            for dependency in depends.get(current, []):
                if dependency == task.task_id:
                    return [*paths[current], dependency]
                if dependency in paths:
                    continue
                if len(paths) > MAX_DEPENDENCIES:
                    raise Refused(
                        f"its pending dependencies reach more than {MAX_DEPENDENCIES} tasks: "
                        "a cycle, or a chain too deep to wait on (queue long chains in stages)"
                    )
                paths[dependency] = [*paths[current], dependency]
                depends[dependency] = self._depends_of(dependency, paths[dependency])
                frontier.append(dependency)
        return None

    def _depends_of(self, task_id: str, path: list[str]) -> list[str]:
        """The dependencies of a task the walk reached; refuses when the chain can never finish."""
        status = self.backend.status(self.queue, task_id)
        if status == FAILED or status is None:
            # Everything that waits on it, directly or not, would fail in
            # turn, one dependency poll per link: say so now.
            chain = " -> ".join(printable(i, 40) for i in path)
            outcome = "failed" if status == FAILED else "is unknown"
            raise Refused(f"dependency chain {chain} leads to a task that {outcome}")
        if status not in (WAITING, DELAYED, RUNNING):
            return []
        try:
            payload = self.backend.peek(self.queue, task_id)
            if payload is None:
                return []
            return list(self.rules.task_class.deserialize(self.rules.policy.open(payload)).depends_on)
        except (TaskRefused, InvalidPayloadError):
            # A dependency that will be dead-lettered itself: no cycle can
            # be seen through it.
            return []

    def _wait_for_dependencies(self, delivery: Delivery) -> None:
        reservation = delivery.reservation
        assert delivery.task is not None
        delivery.task.to_waiting()
        delivery.delay = DEPENDENCY_POLL_SECONDS
        # Handed back unstarted: a wait for a dependency is not a delivery.
        delivery.verdict = HandBack(
            self.queue, reservation.task_id, reservation.receipt, DEPENDENCY_POLL_SECONDS
        )
