"""Gator, Options, Batch and Task: the 0.5.0 API and the names DESIGN.md adds."""

from __future__ import annotations

import datetime
import json
import time
import types

import pytest
import sample_tasks

import alligator
from alligator import Gator, Options, Task, Worker
from alligator.constants import ALL, DELAYED, FAILED, RETRYING, RUNNING, SUCCESS, WAITING
from alligator.exceptions import (
    AlligatorException,
    InvalidDSNError,
    NotSerializableError,
    TaskFailed,
    UnknownBackendError,
    UnknownCallableError,
    UnknownModuleError,
)
from alligator.utils import determine_module, determine_name, import_attr, import_module


def test_public_names_and_constants() -> None:
    assert (WAITING, SUCCESS, FAILED, DELAYED, RETRYING) == (0, 1, 2, 3, 4)
    assert RUNNING not in (WAITING, SUCCESS, FAILED, DELAYED, RETRYING)
    assert ALL == "all"
    assert {"Gator", "Options", "Task", "Worker"} <= set(alligator.__all__)
    for exc in (TaskFailed, UnknownCallableError, UnknownModuleError, UnknownBackendError):
        assert issubclass(exc, AlligatorException)


def test_utils() -> None:
    from random import choice

    assert determine_module(choice) == "random"
    assert determine_name(choice) == "choice"
    assert import_attr("random", "choice") is choice
    assert import_module("random").choice is choice
    assert import_attr("sample_tasks", "Namespace.static")(2) == 4
    with pytest.raises(UnknownModuleError, match="no_such_module"):
        import_module("no_such_module")
    with pytest.raises(UnknownCallableError, match="nope"):
        import_attr("random", "nope")


def test_task_is_queued_then_popped(gator: Gator) -> None:
    task = gator.task(sample_tasks.add, 2, 3)
    assert gator.len() == 1
    assert gator.status(task.task_id) == WAITING
    done = gator.pop()
    assert done is not None
    assert (done.task_id, done.result, done.status) == (task.task_id, 5, SUCCESS)
    assert gator.len() == 0
    assert gator.status(task.task_id) == SUCCESS
    assert gator.pop() is None


def test_get_runs_a_named_task_out_of_turn(gator: Gator) -> None:
    first = gator.task(sample_tasks.record, "first")
    second = gator.task(sample_tasks.record, "second")
    done = gator.get(second.task_id)
    assert done is not None and done.result == "second"
    assert gator.get(second.task_id) is None
    assert gator.pop().task_id == first.task_id  # type: ignore[union-attr]


def test_options_context_manager(gator: Gator) -> None:
    with gator.options(retries=2, on_success=sample_tasks.success_hook) as opts:
        assert isinstance(opts, Options)
        task = opts.task(sample_tasks.add, 1, 1)
    assert task.retries == 2
    done = gator.pop()
    assert done is not None and done.result == 2
    assert ("on_success", 2) in sample_tasks.CALLS


def test_misspelt_option_fails_early(gator: Gator) -> None:
    with pytest.raises(TypeError, match="retires"):
        gator.options(retires=3)


def test_misspelt_option_names_the_option_meant(gator: Gator) -> None:
    # Issue 17, 7.10: "unexpected keyword argument 'retry'" and no more.
    with pytest.raises(TypeError) as info:
        gator.options(retry=3)
    assert str(info.value).startswith(
        "unknown task option 'retry' (did you mean 'retries'?); the task options are"
    )
    with pytest.raises(TypeError, match=r"'delayby' \(did you mean 'delay_by'\?\), 'zzz';"):
        gator.batch(delayby=1, zzz=2)


def test_is_async_false_runs_now_with_hooks(gator: Gator) -> None:
    with gator.options(
        is_async=False,
        on_start=sample_tasks.start_hook,
        on_success="sample_tasks:success_hook",
    ) as opts:
        task = opts.task(sample_tasks.add, 40, 2)
    assert task.status == SUCCESS and task.result == 42
    assert gator.len() == 0
    assert [name for name, _ in sample_tasks.CALLS] == ["on_start", "on_success"]


def test_execute_retries_then_reraises(gator: Gator) -> None:
    task = Task(is_async=False, retries=2)
    task.to_call(sample_tasks.flaky, "k", 2)
    assert gator.execute(task).result == "ok"
    assert sample_tasks.ATTEMPTS["k"] == 3
    task = Task(is_async=False, retries=1, on_error=sample_tasks.error_hook)
    task.to_call(sample_tasks.always_fails, "nope")
    with pytest.raises(RuntimeError, match="nope"):
        gator.execute(task)
    assert task.status == FAILED
    assert sample_tasks.CALLS.count(("on_error", "nope")) == 2


def test_execute_waits_between_tries_as_a_worker_would(gator: Gator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 19: execute retried at once while the worker backs off; one rule now.
    slept: list[float] = []
    monkeypatch.setattr(alligator.gator, "time", types.SimpleNamespace(sleep=slept.append))
    task = Task(is_async=False, retries=3, retry_delay=2.0, retry_backoff=3.0, retry_jitter=False)
    task.to_call(sample_tasks.flaky, "backoff", 2)
    assert gator.execute(task).result == "ok"
    assert slept == [2.0, 6.0], "the worker's backoff: retry_delay * retry_backoff ** (k - 1)"
    assert [task.retry_after(n) for n in (1, 2, 3, 4)] == [2.0, 6.0, 18.0, None]
    slept.clear()
    task = Task(is_async=False, retries=1, retry_delay=0.5, retry_jitter=False)
    task.to_call(sample_tasks.always_fails, "nope")
    with pytest.raises(RuntimeError, match="nope"):
        gator.execute(task)
    assert slept == [0.5], "no wait after the last try"


def test_push_with_a_hand_built_task(gator: Gator) -> None:
    task = Task(task_id="my-id", retries=3)
    assert gator.push(task, sample_tasks.add, 1, b=2) is task
    assert gator.status("my-id") == WAITING
    assert json.loads(task.serialize())["kwargs"] == {"b": 2}


def test_cancel(gator: Gator) -> None:
    task = gator.task(sample_tasks.record, 1)
    assert gator.cancel(task.task_id) is True
    assert gator.cancel(task.task_id) is False
    assert gator.len() == 0
    assert gator.pop() is None


def test_delay_by_and_delay_until(gator: Gator) -> None:
    with gator.options(delay_by=0.3) as opts:
        later = opts.task(sample_tasks.record, "later")
    with gator.options(delay_until=datetime.datetime.now() + datetime.timedelta(seconds=0.3)) as opts:
        until = opts.task(sample_tasks.record, "until")
    assert later.status == DELAYED
    assert gator.status(later.task_id) == DELAYED
    assert gator.len() == 2
    assert gator.pop() is None, "a delayed task must not be handed out early"
    time.sleep(0.35)
    ran = {gator.pop().result, gator.pop().result}  # type: ignore[union-attr]
    assert ran == {"later", "until"}
    assert until.delay_until is not None


def test_delay_by_and_delay_until_together_is_an_error() -> None:
    with pytest.raises(ValueError, match="not both"):
        Task(delay_by=1, delay_until=time.time() + 5)


def test_depends_on_is_enforced(gator: Gator) -> None:
    parent = gator.task(sample_tasks.record, "parent")
    with gator.options(depends_on=[parent]) as opts:
        child = opts.task(sample_tasks.record, "child")
    # Take the child first, out of turn: it must not run before its parent.
    waiting = gator.get(child.task_id)
    assert waiting is not None and waiting.status == WAITING
    assert sample_tasks.CALLS == []
    assert gator.pop().result == "parent"  # type: ignore[union-attr]
    time.sleep(0.6)
    assert gator.pop().result == "child"  # type: ignore[union-attr]
    assert [value for _, value in sample_tasks.CALLS] == ["parent", "child"]


def test_dependency_that_fails_dead_letters_its_dependents(gator: Gator) -> None:
    parent = gator.task(sample_tasks.always_fails)
    with gator.options(depends_on=[parent.task_id]) as opts:
        child = opts.task(sample_tasks.record, "child")
    Worker(gator, max_tasks=2).run_forever()
    letters = {d.task_id: d.reason for d in gator.dead_letters()}
    assert "RuntimeError: boom" in letters[parent.task_id]
    assert letters[child.task_id] == f"dependency {parent.task_id} failed"
    assert sample_tasks.CALLS == []


def test_unknown_dependency_is_dead_lettered(gator: Gator) -> None:
    with gator.options(depends_on=["never-queued"]) as opts:
        child = opts.task(sample_tasks.record, "child")
    gator.pop()
    [letter] = gator.dead_letters()
    assert letter.task_id == child.task_id and "never-queued" in letter.reason


def test_batch_enqueues_at_the_end(gator: Gator) -> None:
    with gator.batch(retries=1) as batch:
        tasks = [batch.task(sample_tasks.add, n, n) for n in range(50)]
        assert gator.len() == 0
    assert gator.len() == 50
    assert all(t.retries == 1 for t in tasks)
    results = [gator.pop().result for _ in range(50)]  # type: ignore[union-attr]
    assert results == [2 * n for n in range(50)]


def test_batch_enqueues_nothing_when_the_block_raises(gator: Gator) -> None:
    with pytest.raises(KeyError):
        with gator.batch() as batch:
            batch.task(sample_tasks.add, 1, 2)
            raise KeyError("oops")
    assert gator.len() == 0


def test_arguments_json_cannot_carry_are_refused_and_nothing_is_queued(gator: Gator) -> None:
    with pytest.raises(
        NotSerializableError, match=r"keyword argument 'when' of record\(\) is a builtins.bytes"
    ):
        gator.task(sample_tasks.record, when=b"2026-12-06")
    with pytest.raises(NotSerializableError, match=r"positional argument 0 of record\(\), at \[1\],"):
        gator.task(sample_tasks.record, [1, {2, 3}])
    with pytest.raises(NotSerializableError, match="key 1 of type int"):
        gator.task(sample_tasks.record, {1: "a"})
    with pytest.raises(NotSerializableError, match="nan"):
        gator.task(sample_tasks.record, float("nan"))
    assert gator.len() == 0


def test_functions_a_worker_cannot_import_are_refused(gator: Gator) -> None:
    def local() -> None:
        return None

    with pytest.raises(ValueError, match="module-level"):
        gator.task(local)
    with pytest.raises(ValueError, match="module-level"):
        gator.task(lambda: None)
    assert gator.len() == 0


def test_unknown_scheme_names_it_lists_installed_and_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    from alligator import registry

    with pytest.raises(UnknownBackendError) as info:
        Gator("beanstalk://localhost")
    message = str(info.value)
    assert "'beanstalk'" in message and "installed: " in message and "locmem" in message
    assert "pip install" not in message
    # One of our schemes whose plugin is not installed gets the install hint.
    monkeypatch.setitem(registry.KNOWN_DISTRIBUTIONS, "gatorq", "alligator-gatorq")
    with pytest.raises(UnknownBackendError, match="pip install alligator-gatorq"):
        Gator("gatorq://localhost")
    with pytest.raises(InvalidDSNError, match="not a DSN"):
        Gator("tasks.db")


def test_backend_class_and_register_bypass_the_lookup() -> None:
    from alligator.registry import register
    from alligator_locmem import LocmemBackend

    g = Gator("anything://x", backend_class=LocmemBackend)
    assert isinstance(g.backend, LocmemBackend)
    register("memtest", LocmemBackend)
    assert isinstance(Gator("memtest://y").backend, LocmemBackend)
    with pytest.raises(TypeError):
        register("bad", dict)  # type: ignore[arg-type]


def test_gator_build_backend(gator: Gator) -> None:
    from alligator_locmem import LocmemBackend

    assert isinstance(gator.build_backend("locmem://"), LocmemBackend)


def test_custom_task_class(gator: Gator) -> None:
    class LoudTask(Task):
        def run(self) -> object:
            sample_tasks.CALLS.append(("loud", self.task_id))
            return super().run()

    g = Gator(gator.conn_string, task_class=LoudTask, allow=["sample_tasks"])
    task = g.task(sample_tasks.add, 1, 2)
    assert isinstance(task, LoudTask)
    assert g.pop().result == 3  # type: ignore[union-attr]
    assert ("loud", task.task_id) in sample_tasks.CALLS


def test_queues_are_separate(gator: Gator) -> None:
    emails = Gator(gator.conn_string, queue_name="emails", allow=["sample_tasks"])
    emails.task(sample_tasks.record, "email")
    gator.task(sample_tasks.record, "default")
    assert emails.len() == 1 and gator.len() == 1
    assert emails.pop().result == "email"  # type: ignore[union-attr]
    emails.drop_all()
