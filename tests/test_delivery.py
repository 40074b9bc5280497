"""The delivery steps are total: whatever a task, a hook or an import raises, the
delivery ends settled (or left to its lease), and the worker goes on."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sample_tasks

from alligator import Gator, Worker
from alligator.backend import Reservation
from alligator.constants import FAILED, RUNNING, SUCCESS, WAITING
from alligator.delivery import DeliveryRules, DeliverySteps, Outcome
from alligator.exceptions import ConfigurationError
from alligator.settler import Settler

BASE_EXCEPTIONS = ["KeyboardInterrupt", "SystemExit", "GeneratorExit", "CancelledError", "CustomStop"]


def _raw(gator: Gator, task_id: str, module: str, callable_: str, **extra: object) -> None:
    body = {"task_id": task_id, "module": module, "callable": callable_, "args": [], "retries": 0, **extra}
    assert gator.backend.push(gator.queue_name, task_id, json.dumps(body))


@pytest.mark.parametrize("kind", BASE_EXCEPTIONS)
def test_a_task_raising_base_exception_is_a_failure_and_the_worker_goes_on(gator: Gator, kind: str) -> None:
    bad = gator.task(sample_tasks.raises_base, kind)
    good = gator.task(sample_tasks.record, "after")
    assert Worker(gator, max_tasks=2).run_forever() == 2
    [letter] = gator.dead_letters()
    assert letter.task_id == bad.task_id
    assert letter.attempts == 1 and "raised on attempt 1 of 1" in letter.reason
    assert gator.status(good.task_id) == SUCCESS
    assert ("record", "after") in sample_tasks.CALLS


@pytest.mark.parametrize("kind", BASE_EXCEPTIONS)
def test_threads_survive_base_exceptions_and_nothing_stays_running(gator: Gator, kind: str) -> None:
    bad = [gator.task(sample_tasks.raises_base, kind) for _ in range(4)]
    good = [gator.task(sample_tasks.record, n) for n in range(8)]
    worker = Worker(gator, max_tasks=12, concurrency=2, lease_seconds=0.6)
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "the worker must finish its 12 tasks"
    assert {gator.status(t.task_id) for t in bad} == {FAILED}
    assert {gator.status(t.task_id) for t in good} == {SUCCESS}
    time.sleep(1.0)  # longer than the lease: a renewed lease would still say RUNNING
    assert all(gator.status(t.task_id) != RUNNING for t in bad + good)


def test_a_task_raising_retries_like_any_failure(gator: Gator) -> None:
    with gator.options(retries=1, retry_delay=0.01, retry_jitter=False) as opts:
        task = opts.task(sample_tasks.raises_base, "CustomStop")
    assert Worker(gator, max_tasks=2, nap_time=0.01).run_forever() == 2
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id and letter.attempts == 2
    assert sample_tasks.CALLS.count(("raises_base", "CustomStop")) == 2


def test_pop_settles_a_keyboard_interrupt_then_reraises_it(gator: Gator) -> None:
    task = gator.task(sample_tasks.raises_base, "KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt):
        gator.pop()
    assert gator.status(task.task_id) == FAILED, "settled before Ctrl-C goes on up"


def test_on_success_calling_sys_exit_leaves_the_success_standing(gator: Gator) -> None:
    with gator.options(on_success=sample_tasks.exits_on_success) as opts:
        task = opts.task(sample_tasks.record, 7)
    assert Worker(gator, max_tasks=1).run_forever() == 1
    assert gator.status(task.task_id) == SUCCESS
    assert sample_tasks.CALLS.count(("record", 7)) == 1, "a finished success never runs again"
    assert gator.dead_letters() == []


def test_a_task_closing_stderr_does_not_kill_the_worker(tmp_path: Path) -> None:
    # A real process: closing the test runner's own stderr would take pytest down.
    script = tmp_path / "worker.py"
    script.write_text(
        "import logging, sys\n"
        "import sample_tasks\n"
        "from alligator import Gator, Worker\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "gator = Gator('locmem://closing', allow=['sample_tasks'])\n"
        "first = gator.task(sample_tasks.closes_stderr)\n"
        "second = gator.task(sample_tasks.record, 'still here')\n"
        "assert Worker(gator, max_tasks=2).run_forever() == 2\n"
        "print(gator.status(first.task_id), gator.status(second.task_id), sys.stderr.closed)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(SUCCESS), str(SUCCESS), "False"]


def test_the_settler_stops_renewing_a_lease_whose_thread_died(gator: Gator) -> None:
    gator.task(sample_tasks.noop)
    [reservation] = gator.backend.reserve(gator.queue_name, 30.0)
    settler = Settler(gator.backend, 30.0)
    thread = threading.Thread(target=settler.hold, args=(gator.queue_name, reservation))
    thread.start()
    thread.join()
    assert settler.held(gator.queue_name) == [], (
        "no live thread runs that task: its lease must be left to end"
    )


IMPORT_FAILURES = {
    "keyerror_at_import": "raise KeyError('SETTING')\n",
    "apps_not_ready": 'raise RuntimeError("Apps aren\'t loaded yet.")\n',
    "syntax_broken": "def f(:\n    pass\n",
    "property_raises": (
        "class _Walk:\n"
        "    @property\n"
        "    def job(self):\n"
        "        raise LookupError('walked into a property')\n"
        "holder = _Walk()\n"
    ),
}


@pytest.mark.parametrize("name", sorted(IMPORT_FAILURES))
def test_import_time_errors_are_dead_lettered_at_once_with_the_traceback(
    gator: Gator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    module = f"importfail_{name}_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(IMPORT_FAILURES[name])
    monkeypatch.syspath_prepend(str(tmp_path))
    worker = Worker(gator, max_tasks=1, allow=[module])
    _raw(gator, "t1", module, "holder.job" if name == "property_raises" else "run", retries=3)
    assert worker.run_forever() == 1
    [letter] = gator.dead_letters()
    assert letter.attempts == 1, "dead-lettered on the first delivery, not after max deliveries"
    if name == "property_raises":
        # The walk runs no getter (issue 17, point 9): the name is refused as it stands.
        assert "holder.job walks into holder, a _Walk object" in letter.reason
    else:
        assert "Traceback" in letter.reason and f"importing {module}" in letter.reason
    assert "worker probably died" not in letter.reason


def test_a_reason_with_a_lone_surrogate_is_stored(gator: Gator) -> None:
    task = gator.task(sample_tasks.fails_with, "bad \udc80 byte")
    assert Worker(gator, max_tasks=1).run_forever() == 1
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id
    letter.reason.encode("utf-8")  # storable by any backend
    assert "\\udc80" in letter.reason and "ValueError" in letter.reason


def test_max_deliveries_caps_unfinished_deliveries_whatever_the_retries(gator: Gator) -> None:
    with gator.options(retries=50) as opts:
        task = opts.task(sample_tasks.record, "never finished")
    backend = gator.backend
    for _ in range(3):
        # A worker reserves it and dies: the lease simply ends.
        [held] = backend.reserve(gator.queue_name, 0.01)
        time.sleep(0.03)
    steps = DeliverySteps(backend, gator.queue_name, DeliveryRules(gator.policy, max_deliveries=3))
    [held] = backend.reserve(gator.queue_name, 30.0)
    delivery = steps.handle(held)
    Settler(backend).settle(delivery)
    assert delivery.outcome is Outcome.DEAD
    assert "delivered 4 times without finishing (limit 3)" in (delivery.reason or "")
    assert gator.status(task.task_id) == FAILED
    assert ("record", "never finished") not in sample_tasks.CALLS


def test_deliveries_that_failed_do_not_count_against_max_deliveries(gator: Gator) -> None:
    with gator.options(retries=8, retry_delay=0.001, retry_jitter=False) as opts:
        task = opts.task(sample_tasks.flaky, "eight", 8)
    assert Worker(gator, max_tasks=9, nap_time=0.01, max_deliveries=2).run_forever() == 9
    assert gator.status(task.task_id) == SUCCESS


def test_a_dependency_cycle_is_dead_lettered(gator: Gator) -> None:
    with gator.options(task_id="cycle-a", depends_on=["cycle-b"]) as opts:
        opts.task(sample_tasks.record, "a")
    with gator.options(task_id="cycle-b", depends_on=["cycle-a"]) as opts:
        opts.task(sample_tasks.record, "b")
    Worker(gator, max_tasks=2, nap_time=0.01).run_forever()
    reasons = {d.task_id: d.reason for d in gator.dead_letters()}
    assert set(reasons) == {"cycle-a", "cycle-b"} or len(reasons) >= 1
    assert all("dependency cycle" in r or "failed" in r for r in reasons.values())
    assert any("dependency cycle: cycle-" in r for r in reasons.values())
    assert sample_tasks.CALLS == []


def test_a_pending_dependency_waits_without_counting(gator: Gator) -> None:
    first = gator.task(sample_tasks.record, 1)
    with gator.options(depends_on=[first]) as opts:
        second = opts.task(sample_tasks.record, 2)
    steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy))
    held = gator.backend.get(gator.queue_name, second.task_id, 30.0)
    assert held is not None
    assert Settler(gator.backend).settle(steps.handle(held)) is Outcome.WAITING
    assert gator.status(second.task_id) in (WAITING, 3)


def test_ids_and_names_are_escaped_in_log_lines(gator: Gator, caplog: pytest.LogCaptureFixture) -> None:
    forged = "t1\n2026-01-01 INFO alligator.worker: all good"
    _raw(gator, forged, "not_allowed_mod\nFORGED", "run")
    with caplog.at_level(logging.INFO, logger="alligator"):
        Worker(gator, max_tasks=1).run_forever()
    assert gator.dead_letters()[0].task_id == forged
    for record in caplog.records:
        assert "\n" not in record.getMessage(), record.getMessage()


def test_one_log_line_per_task_with_its_outcome(gator: Gator, caplog: pytest.LogCaptureFixture) -> None:
    ok = gator.task(sample_tasks.add, 1, 2)
    with gator.options(retries=1, retry_delay=0.01, retry_jitter=False) as opts:
        bad = opts.task(sample_tasks.fails_with, "nope")
    with caplog.at_level(logging.DEBUG, logger="alligator"):
        Worker(gator, max_tasks=3, nap_time=0.01).run_forever()
    lines: list[Any] = [r for r in caplog.records if getattr(r, "task_id", None)]
    success = [r for r in lines if r.task_id == ok.task_id]
    # At DEBUG (a line per success at INFO cost a third of a busy worker's time: issue 20).
    assert [r.levelname for r in success] == ["DEBUG"]
    assert success[0].outcome == "succeeded" and success[0].queue == gator.queue_name
    assert success[0].function == "sample_tasks:add" and success[0].duration >= 0
    assert "sample_tasks:add" in success[0].getMessage() and ok.task_id in success[0].getMessage()
    failing = [r for r in lines if r.task_id == bad.task_id]
    assert [r.levelname for r in failing] == ["WARNING", "ERROR"]
    assert "retry 1 of 1 in 0.0s" in failing[0].getMessage()
    assert failing[0].delay == 0.01, "JSON logs get the retry delay as a field"
    assert failing[1].exc_info is not None, "a dead letter's line carries the traceback"


def test_a_worker_with_nothing_allowed_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLIGATOR_ALLOW", raising=False)
    gator = Gator(f"locmem://{uuid.uuid4().hex}")
    gator.task(sample_tasks.noop)
    with pytest.raises(ConfigurationError, match="--allow"):
        Worker(gator, max_tasks=1).run_forever()
    assert gator.len() == 1, "nothing was taken off the queue"


def test_steps_settle_an_unexpected_error_of_the_store(gator: Gator, monkeypatch: pytest.MonkeyPatch) -> None:
    from alligator.exceptions import BackendError

    task = gator.task(sample_tasks.fails_with, "x")
    [held] = gator.backend.reserve(gator.queue_name, 30.0)

    def broken(*args: object) -> bool:
        raise BackendError("store down")

    monkeypatch.setattr(gator.backend, "dead_letter", broken)
    steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy))
    delivery = steps.handle(held)
    Settler(gator.backend).settle(delivery)
    assert delivery.outcome is Outcome.UNSETTLED
    assert gator.status(task.task_id) == RUNNING, "left to its lease, to be delivered again"
    assert isinstance(held, Reservation)


def test_a_cycle_longer_than_the_walk_is_dead_lettered_not_polled_for_ever(gator: Gator) -> None:
    size = 103  # more than the walk covers (100), so the walk cannot close the ring
    for n in range(size):
        gator.options(task_id=f"r{n}", depends_on=[f"r{(n + 1) % size}"]).task(sample_tasks.record, n)
    assert gator.len() == size
    Worker(gator, max_tasks=size, nap_time=0.01).run_forever()
    letters = gator.dead_letters(limit=size)
    assert len(letters) == size, "every member of the ring ends in the dead letters"
    assert all(
        "dependency cycle" in d.reason or "more than 100 tasks" in d.reason or "failed" in d.reason
        for d in letters
    )
    assert sample_tasks.CALLS == []


def test_a_worker_imports_a_function_once_and_checks_refusals_every_time(
    gator: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: importing again cost ~5 us a task; what is refused stays refused."""
    from alligator import utils

    imported: list[str] = []
    real = utils.import_module

    def counting(name: str) -> Any:
        imported.append(name)
        return real(name)

    monkeypatch.setattr(utils, "import_module", counting)
    for n in range(5):
        gator.task(sample_tasks.add, n, n)
    # Twice, by a name that walks out of the allowed module: refused both times.
    for n in range(2):
        task_id = f"walker-{n}"
        payload = {"task_id": task_id, "module": "sample_tasks", "callable": "os.system", "retries": 0}
        payload["args"] = ["true"]
        gator.backend.push(gator.queue_name, task_id, json.dumps(payload))
    Worker(gator, max_tasks=7).run_forever()
    # add imported once; the refused name imported (and refused) each time
    assert imported.count("sample_tasks") == 3, imported
    assert len(gator.dead_letters()) == 2


def test_a_function_that_ran_is_checked_again_when_its_task_names_a_hook(gator: Gator) -> None:
    """The allow-list check is skipped only for a function already resolved, and never for hooks."""
    gator.task(sample_tasks.add, 1, 1)
    # json:dumps is defined where it is named: only the allow list refuses it.
    _raw(gator, "hooked", "sample_tasks", "add", on_success="json:dumps")
    _raw(gator, "shutil", "shutil", "rmtree")
    Worker(gator, max_tasks=3).run_forever()
    reasons = {letter.task_id: letter.reason for letter in gator.dead_letters()}
    assert set(reasons) == {"hooked", "shutil"}
    assert "hook json:dumps is not allowed" in reasons["hooked"]
    assert "shutil:rmtree" in reasons["shutil"]


def test_a_task_its_workers_died_on_too_often_is_dead_lettered_and_its_on_killed_hook_called(
    gator: Gator,
) -> None:
    from alligator import Task

    sample_tasks.CALLS.clear()
    gator.push(Task(task_id="lost", on_killed=sample_tasks.killed_hook), sample_tasks.record, "never")
    steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy, max_deliveries=2))
    # Two deliveries ended with their worker (nothing acked, released or failed them).
    for _ in range(2):
        [held] = gator.backend.reserve(gator.queue_name, 0.05)
        time.sleep(0.1)
    [held] = gator.backend.reserve(gator.queue_name, 30.0)
    delivery = steps.open(held)

    assert delivery.decided and "delivered 3 times without finishing" in (delivery.reason or "")
    assert sample_tasks.CALLS == [("on_killed", "WorkerLost: " + (delivery.reason or ""))]
    assert Settler(gator.backend).settle(delivery) == Outcome.DEAD
    assert gator.status("lost") == FAILED
    # A task without the hook, or one refused for another reason, calls nothing.
    sample_tasks.CALLS.clear()
    _raw(gator, "other", "sample_tasks", "no_such_function", on_killed="sample_tasks:killed_hook")
    [held] = gator.backend.reserve(gator.queue_name, 30.0)
    steps.handle(held)
    assert sample_tasks.CALLS == []
