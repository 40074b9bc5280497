"""The producer's hot path (issue 20, point 3): what it skips is only what it already knows.

``gator.task`` builds a task with the defaults copied rather than checked
again, knows a function's name from the last time it saw the very same
object, looks at the store's risks once until :func:`alligator.loss_risks.forget`,
and writes the payload with one C encoder. Each shortcut must give what the
long way gives, and fall back to it where it cannot be sure.
"""

from __future__ import annotations

import json
import sys
import types
import uuid
import warnings
from typing import Any

import pytest
import sample_tasks

from alligator import Gator, Task, loss_risks, payload, targets
from alligator.exceptions import EvictingStoreError, NotImportableError, TaskLossWarning
from alligator_locmem import LocmemBackend


def _dsn() -> str:
    return f"locmem://{uuid.uuid4().hex}"


def _state(task: Task) -> dict[str, Any]:
    return {key: value for key, value in vars(task).items() if key != "task_id"}


def test_a_task_with_the_defaults_is_the_task_task_makes() -> None:
    first, second = Task._with_defaults(), Task._with_defaults()
    assert _state(first) == _state(Task())
    assert first.task_id != second.task_id and len(first.task_id) == 32
    # Nothing mutable is shared between tasks (nor with the template).
    for name in ("depends_on", "func_args", "func_kwargs"):
        assert getattr(first, name) is not getattr(second, name)
    first.func_args.append(1)
    assert Task._with_defaults().func_args == []


class _OwnInit(Task):
    def __init__(self) -> None:
        super().__init__(retries=2)


class _Property(Task):
    @property
    def retries(self) -> int:  # type: ignore[override]
        return 4

    @retries.setter
    def retries(self, value: int) -> None:
        pass


class _Plain(Task):
    def describe(self) -> str:
        return "plain"


@pytest.mark.parametrize(("cls", "retries"), [(_OwnInit, 2), (_Property, 4), (_Plain, 0)])
def test_a_task_class_of_its_own_gets_what_calling_it_gives(cls: type[Task], retries: int) -> None:
    gator = Gator(_dsn(), task_class=cls)
    task = gator.task(sample_tasks.add, 1, 2)
    assert type(task) is cls and task.retries == retries
    assert json.loads(task.serialize())["retries"] == retries


def test_a_function_rebound_in_its_module_is_worked_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("rebound_tasks_for_test")
    exec("def job(x):\n    return x\n", module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    old = module.job
    gator = Gator(_dsn())
    assert gator.task(old, 1).callable == "job"
    assert targets.queued_target(old)[:2] == (module.__name__, "job")
    exec("def job(x):\n    return -x\n", module.__dict__)  # the name now leads elsewhere
    with pytest.raises(NotImportableError, match="not what"):
        gator.task(old, 1)
    assert gator.task(module.job, 1).module == module.__name__


def test_queued_target_refuses_what_the_long_way_refuses() -> None:
    with pytest.raises(NotImportableError, match="lambda"):
        targets.queued_target(lambda: None)
    with pytest.raises(TypeError):
        targets.queued_target(42)  # type: ignore[arg-type]


class _Evicting(LocmemBackend):
    """A store that says it evicts, and counts how often it was asked."""

    asked = 0
    risks = [(loss_risks.EVICTION, "the store evicts")]

    def task_loss_risks(self) -> list[tuple[str, str]]:
        type(self).asked += 1
        return list(self.risks)


def test_the_store_is_asked_once_and_eviction_is_refused_on_every_push() -> None:
    loss_risks.forget()
    try:
        _Evicting.asked = 0
        gator = Gator(_dsn(), backend_class=_Evicting)
        for _ in range(2):
            with pytest.raises(EvictingStoreError):
                gator.task(sample_tasks.add, 1, 2)
        assert gator.len() == 0 and _Evicting.asked == 1
        gator.allow_eviction = True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gator.task(sample_tasks.add, 1, 2)
            gator.task(sample_tasks.add, 1, 2)
        assert [w.category for w in caught] == [TaskLossWarning], "warned once"
        gator.allow_eviction = False  # changed back: refused again
        with pytest.raises(EvictingStoreError):
            gator.task(sample_tasks.add, 1, 2)
        assert gator.len() == 2 and _Evicting.asked == 1
    finally:
        loss_risks.forget()


def test_forget_makes_a_producer_ask_the_store_again() -> None:
    loss_risks.forget()
    try:
        _Evicting.asked = 0
        _Evicting.risks = []
        gator = Gator(_dsn(), backend_class=_Evicting)
        gator.task(sample_tasks.add, 1, 2)
        gator.task(sample_tasks.add, 1, 2)
        assert _Evicting.asked == 1
        _Evicting.risks = [(loss_risks.EVICTION, "the store evicts now")]
        loss_risks.forget()
        with pytest.raises(EvictingStoreError, match="evicts now"):
            gator.task(sample_tasks.add, 1, 2)
        assert _Evicting.asked == 2 and gator.len() == 2
    finally:
        _Evicting.risks = [(loss_risks.EVICTION, "the store evicts")]
        loss_risks.forget()


@pytest.mark.parametrize(
    "data",
    [
        {
            "v": 1,
            "task_id": "a\u00e9\u2028b",
            "args": [1.5, -0.0, 10**30, None, True],
            "kwargs": {"k": {"x": []}},
        },
        {},
    ],
)
def test_payloads_are_written_as_the_json_encoder_writes_them(data: dict[str, Any]) -> None:
    expected = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode(data)
    assert payload.dumps(data) == expected


def test_a_payload_json_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError):
        payload.dumps({"args": [float("nan")]})
    with pytest.raises(TypeError):
        payload.dumps({"args": [object()]})
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError):
        payload.dumps({"args": cycle})


def test_a_value_put_into_the_arguments_after_to_call_is_still_checked() -> None:
    task = Task()
    task.to_call(sample_tasks.add, [1], 2)
    task.func_args[0].append(float("inf"))
    with pytest.raises(Exception, match="inf"):
        task.serialize()


_USUAL_KEYS = ["v", "task_id", "module", "callable", "args", "kwargs", "retries", "is_async"]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, "\u00e9", [2.5, None]), {"k": {"x": True}}), (((1, 2),), {}), ((), {"when": (3,)})],
)
def test_the_usual_payload_is_what_the_encoder_writes_for_its_fields(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    task = Task(task_id='id-\u00e9"\\')
    task.to_call(sample_tasks.echo, *args, **kwargs)
    text = task.serialize()
    fields = json.loads(text)
    assert list(fields) == _USUAL_KEYS
    assert text == json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode(fields)
    assert Task.deserialize(text).func_args == list(args)


@pytest.mark.parametrize(
    "change",
    [
        {"retries": 2},
        {"retry_jitter": False},
        {"retry_delay": 3.0},
        {"time_limit": 5},
        {"result_ttl": 60},
        {"store_result": False},
        {"on_error": "sample_tasks:record"},
        {"depends_on": ["other"]},
    ],
)
def test_a_task_with_an_option_set_carries_it(change: dict[str, Any]) -> None:
    task = Task(**change)
    task.to_call(sample_tasks.add, 1, 2)
    again = Task.deserialize(task.serialize())
    for name, value in change.items():
        assert getattr(again, name) == value


def test_fields_replaced_by_hand_are_written_as_they_are() -> None:
    task = Task()
    task.to_call(sample_tasks.echo)
    task.func_args = (1, 2)  # type: ignore[assignment]
    task.retries = True  # type: ignore[assignment]
    fields = json.loads(task.serialize())
    assert fields["args"] == [1, 2] and fields["retries"] is True
