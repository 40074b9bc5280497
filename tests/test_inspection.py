"""Inspection from Python: the ``Gator`` methods over the backend's.

Their docstring examples run once, in the core session's ``--doctest-modules``
(each on a locmem store of its own, which a second run would find full).
"""

from __future__ import annotations

import pytest

from alligator import Gator
from alligator.backend import QueueCounts


@pytest.fixture
def gator(request: pytest.FixtureRequest) -> Gator:
    return Gator(f"locmem://inspect-{request.node.name}", queue_name="jobs", allow=["builtins"])


def test_gator_inspects_its_own_queue(gator: Gator) -> None:
    other = Gator(gator.conn_string, queue_name="other", allow=["builtins"])
    gator.options(task_id="a").task(abs, -1)
    other.task(abs, -2)
    assert gator.queues() == ["jobs", "other"]
    assert gator.counts() == QueueCounts(waiting=1)
    assert [info.task_id for info in gator.tasks()] == ["a"]
    assert gator.tasks("running") == []


def test_gator_steers_dead_letters(gator: Gator) -> None:
    for task_id in ("a", "b", "c"):
        gator.options(task_id=task_id, retries=0).task(int, "not a number")
        assert gator.pop() is not None
    [info, *_] = gator.tasks("dead")
    assert info.task_id == "a" and info.reason and "ValueError" in info.reason
    assert gator.delete_dead("a") is True
    assert gator.requeue_all() == 2
    assert [info.task_id for info in gator.tasks("waiting")] == ["b", "c"]
    assert gator.pop() is not None and gator.pop() is not None
    assert gator.purge_dead() == 2
    assert gator.counts() == QueueCounts()


def test_gator_tasks_refuses_an_unknown_state(gator: Gator) -> None:
    with pytest.raises(ValueError, match="waiting, delayed, running, dead"):
        gator.tasks("finished")
