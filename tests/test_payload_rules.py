"""What a worker reads: the same rules as the producer, applied to a payload from a possibly hostile store.

Anyone who can write to the store can plant a payload, so everything the
producer refuses at enqueue is refused again when a payload is read, as
:class:`~alligator.exceptions.InvalidPayloadError` with the reason (the
worker dead-letters it with that reason).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sample_tasks

from alligator import Gator, Task, Worker
from alligator.exceptions import InvalidPayloadError, TaskRefused
from alligator.limits import MAX_DEPENDENCIES, MAX_RETRIES, MAX_RETRY_DELAY, MAX_TASK_ID_LENGTH
from alligator.payload import loads
from alligator.security import TaskPolicy


def _payload(**fields: Any) -> str:
    body: dict[str, Any] = {"task_id": "t1", "module": "sample_tasks", "callable": "noop", "retries": 0}
    body.update(fields)
    return json.dumps(body)


# -- finding 9: one JSON dialect on both sides ------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_the_worker_refuses_numbers_the_producer_refuses(number: str) -> None:
    text = '{"task_id": "t1", "module": "sample_tasks", "callable": "record", "retries": 0, "args": [%s]}'
    with pytest.raises(InvalidPayloadError, match=number.lstrip("-")):
        loads(text % number)
    with pytest.raises(InvalidPayloadError, match=number.lstrip("-")):
        Task.deserialize(text % number)


def test_finite_numbers_still_read() -> None:
    assert loads('{"a": [1.5, -1e308, 0, 10]}') == {"a": [1.5, -1e308, 0, 10]}


# -- finding 8: __main__ and __init__ never run --------------------------------


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An importable package whose ``__main__`` and ``__init__`` leave marks when their code runs."""
    name = f"dunderpkg_{uuid.uuid4().hex[:8]}"
    marks = tmp_path / "marks"
    root = tmp_path / name
    root.mkdir()
    mark = f"open({str(marks)!r}, 'a').write(__name__ + '\\n')\n"
    (root / "__init__.py").write_text(mark + "def hook(*args):\n    return None\n")
    (root / "__main__.py").write_text(mark + "def run():\n    return 'ran'\n")
    (root / "tasks.py").write_text("def run():\n    return 'ran'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marks
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


@pytest.mark.parametrize(
    ("module", "function", "hook"),
    [
        ("{pkg}.__main__", "run", None),
        ("{pkg}.__init__", "hook", None),
        ("{pkg}.tasks", "run", "{pkg}.__main__:run"),
        ("{pkg}.tasks", "run", "{pkg}:__init__"),
        ("{pkg}.tasks", "__class__.__init__", None),
    ],
)
def test_a_dunder_module_is_refused_before_anything_is_imported(
    package: tuple[str, Path], module: str, function: str, hook: str | None
) -> None:
    pkg, marks = package
    module = module.format(pkg=pkg)
    policy = TaskPolicy.build(allow=[pkg], environ={})
    hooks = [tuple(hook.format(pkg=pkg).split(":"))] if hook else []
    with pytest.raises(TaskRefused, match="__dunder__ part"):
        policy.check_task(module, function, hooks)  # type: ignore[arg-type]
    if hook is None:
        assert not policy.is_allowed(module, function)

    # The same through a worker: dead-lettered, and the package never ran.
    gator = Gator(f"locmem://{uuid.uuid4().hex}", allow=[pkg])
    extra = {"on_success": hook.format(pkg=pkg)} if hook else {}
    gator.backend.push(gator.queue_name, "t1", _payload(module=module, callable=function, **extra))
    Worker(gator, max_tasks=1).run_forever()
    [letter] = gator.dead_letters()
    assert "__main__ or __init__" in letter.reason
    assert not marks.exists(), f"imported: {marks.read_text()}"


def test_a_dunder_entry_cannot_be_allowed() -> None:
    for entry in ["alligator.__main__", "myapp:__init__", "__main__"]:
        with pytest.raises(ValueError, match="__dunder__"):
            TaskPolicy.build(allow=[entry], environ={})
    for entry in ["myapp:", ":run", "my app", "myapp..tasks"]:
        with pytest.raises(ValueError, match="not a dotted Python name"):
            TaskPolicy.build(allow=[entry], environ={})


# -- finding 14: refusals never advise allowing Python's own modules ----------


@pytest.mark.parametrize(
    ("module", "function"),
    [
        ("os", "system"),
        ("builtins", "eval"),
        ("subprocess", "run"),
        ("os.path", "join"),
        ("alligator.cli", "main"),
    ],
)
def test_a_refusal_never_advises_allowing_the_standard_library(module: str, function: str) -> None:
    policy = TaskPolicy.build(allow=["myapp"], environ={})
    with pytest.raises(TaskRefused) as info:
        policy.check_task(module, function)
    message = str(info.value)
    assert "not allowed" in message
    assert "--allow" not in message and "ALLIGATOR_ALLOW=" not in message and "allow=[" not in message
    assert "never be allowed" in message


def test_a_refusal_advises_allowing_an_application_module() -> None:
    with pytest.raises(TaskRefused, match=r"`latergator --allow myapp.tasks`"):
        TaskPolicy.build(environ={}).check_task("myapp.tasks", "send")


def test_names_in_a_refusal_are_escaped_and_not_advised() -> None:
    policy = TaskPolicy.build(allow=["myapp"], environ={})
    with pytest.raises(TaskRefused) as info:
        policy.check_task("evil\nINFO alligator.worker: task done", "run", [("myapp", "ok\r\nforged")])
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert "evil\\nINFO" in message and "--allow" not in message


# -- finding 10: a payload cannot set its own limits ---------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"retry_policy": [1.0, 2.0, 1e308]}, "retry_max_delay must be from 0 to 604800"),
        ({"retry_policy": [-5, 2.0, 600]}, "retry_delay must be from 0 to 604800"),
        ({"retry_policy": [1.0, 0.0, 600]}, "retry_backoff must be >= 1"),
        ({"retry_policy": [1.0, True, 600]}, "retry_backoff must be a number"),
        ({"retry_policy": [1.0, 2.0]}, "three numbers"),
        ({"retries": MAX_RETRIES + 1}, f"retries must be a whole number from 0 to {MAX_RETRIES}"),
        ({"retries": 10**9}, "retries must be a whole number"),
        ({"retries": True}, "retries must be a whole number"),
        ({"depends_on": [f"d{n}" for n in range(MAX_DEPENDENCIES + 1)]}, f"more than {MAX_DEPENDENCIES}"),
        ({"depends_on": ["ok", 3]}, r"depends_on\[1\] must be a non-empty string"),
        ({"depends_on": ["ok", ["nested"]]}, r"depends_on\[1\] must be a non-empty string"),
        ({"depends_on": ["t1"]}, "task t1 depends on itself"),
        ({"task_id": "t1\nINFO forged line"}, "unprintable character"),
        ({"task_id": "x" * (MAX_TASK_ID_LENGTH + 1)}, "over the limit"),
        ({"v": True}, "version"),
    ],
)
def test_a_payload_breaking_a_cap_is_refused_with_the_reason(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidPayloadError, match=reason):
        Task.deserialize(_payload(**fields))


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("place", [0, 1, 2])
def test_non_finite_numbers_in_the_retry_policy_are_refused(number: str, place: int) -> None:
    policy = ["1.0", "2.0", "600.0"]
    policy[place] = number
    text = _payload(retry_policy=[]).replace('"retry_policy": []', f'"retry_policy": [{", ".join(policy)}]')
    with pytest.raises(InvalidPayloadError, match=number.lstrip("-")):
        Task.deserialize(text)


def test_the_caps_themselves_are_read() -> None:
    task = Task.deserialize(
        _payload(
            retries=MAX_RETRIES,
            depends_on=[f"d{n}" for n in range(MAX_DEPENDENCIES)],
            retry_policy=[MAX_RETRY_DELAY, 1, MAX_RETRY_DELAY],
        )
    )
    assert task.retries == MAX_RETRIES and len(task.depends_on) == MAX_DEPENDENCIES
    assert task.next_retry_delay(10**6) <= MAX_RETRY_DELAY


# -- finding 17: 0.5.0 payloads are read completely ---------------------------


def _payload_050(**options: Any) -> str:
    """A payload as Alligator 0.5.0's Task.serialize wrote it."""
    return json.dumps(
        {
            "task_id": "old-1",
            "retries": 0,
            "async": True,
            "module": "sample_tasks",
            "callable": "add",
            "args": [1, 2],
            "kwargs": {},
            "options": options,
        }
    )


def test_a_0_5_0_payload_keeps_the_hooks_stored_under_options() -> None:
    text = _payload_050(
        on_start={"module": "sample_tasks", "callable": "start_hook"},
        on_success={"module": "sample_tasks", "callable": "success_hook"},
        on_error={"module": "sample_tasks", "callable": "error_hook"},
    )
    task = Task.deserialize(text)
    assert (task.on_start, task.on_success, task.on_error) == (
        "sample_tasks:start_hook",
        "sample_tasks:success_hook",
        "sample_tasks:error_hook",
    )
    assert task.hooks() == [
        ("sample_tasks", "start_hook"),
        ("sample_tasks", "success_hook"),
        ("sample_tasks", "error_hook"),
    ]
    gator = Gator(f"locmem://{uuid.uuid4().hex}", allow=["sample_tasks"])
    gator.backend.push(gator.queue_name, "old-1", text)
    done = gator.pop()
    assert done is not None and done.result == 3
    assert sample_tasks.CALLS == [("on_start", "old-1"), ("on_success", 3)]
    assert Task.deserialize(_payload_050()).hooks() == []


def test_hooks_of_a_0_5_0_payload_are_checked_like_any_other() -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", allow=["sample_tasks"])
    gator.backend.push(
        gator.queue_name, "old-1", _payload_050(on_error={"module": "os", "callable": "system"})
    )
    Worker(gator, max_tasks=1).run_forever()
    [letter] = gator.dead_letters()
    assert "hook os:system is not allowed" in letter.reason
    for options, reason in [
        ({"on_start": {"module": "sample_tasks"}}, "must name a 'module' and a 'callable'"),
        ({"on_start": 7}, "options.on_start is a int"),
        ({"on_start": {"module": "sample_tasks.__main__", "callable": "x"}}, "__dunder__"),
    ]:
        with pytest.raises(InvalidPayloadError, match=reason):
            Task.deserialize(_payload_050(**options))  # type: ignore[arg-type]


def test_a_refusal_never_advises_allowing_an_installed_library() -> None:
    policy = TaskPolicy.build(allow=["myapp"], environ={})
    for module in ["_pytest.config", "hypothesis.strategies"]:
        with pytest.raises(TaskRefused) as refused:
            policy.check_allowed(module, "main")
        message = str(refused.value)
        assert "--allow" not in message and "installed library" in message, message
        assert "task function in a module of your own" in message


def test_the_usual_payload_reads_back_as_the_full_rules_read_it() -> None:
    """Issue 20: the usual payload's defaults are copied, not checked again; the result is the same task."""
    from alligator.task_payload import from_fields

    class Called(Task):
        """A class of its own: always called with the payload's values (the full rules)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

    fields: dict[str, Any] = {
        "v": 1,
        "task_id": "usual-1",
        "module": "sample_tasks",
        "callable": "add",
        "args": [1, 2],
        "kwargs": {"c": 3},
        "retries": 2,
        "is_async": True,
    }
    fast, full = from_fields(Task, dict(fields)), from_fields(Called, dict(fields))
    assert {k: v for k, v in vars(fast).items() if k != "_gator"} == {
        k: v for k, v in vars(full).items() if k != "_gator"
    }
    for bad in ({"retries": -1}, {"retries": True}, {"task_id": ""}, {"task_id": "x" * 100_000}):
        with pytest.raises(ValueError):
            from_fields(Task, {**fields, **bad})
        with pytest.raises(ValueError):
            from_fields(Called, {**fields, **bad})


def test_an_on_killed_hook_travels_by_name_and_is_checked_like_the_others() -> None:
    task = Task(task_id="k", on_killed=sample_tasks.noop)
    task.to_call(sample_tasks.noop)
    again = Task.deserialize(task.serialize())
    assert again.on_killed == "sample_tasks:noop"
    assert ("sample_tasks", "noop") in again.hooks()
    with pytest.raises(TaskRefused, match="forbidden_module"):
        TaskPolicy(allow=("sample_tasks",)).check_task(
            "sample_tasks", "noop", Task.deserialize(_payload(on_killed="forbidden_module:evil")).hooks()
        )
    with pytest.raises(InvalidPayloadError, match="on_killed"):
        Task.deserialize(_payload(on_killed=7))
