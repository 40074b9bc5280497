"""``alligator`` in-process, on the in-memory store: the parser, the rendering, and each subcommand's output.

The same commands as a user runs them (subprocesses, SQLite files, Redis, a
real worker) are tested in ``tests/operating``.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest
import sample_tasks

from alligator import Gator, capabilities
from alligator.backend import Ack
from alligator.command import build_parser, main
from alligator.command._render import call_text, decode_payload, since, table
from alligator.registry import register
from alligator.security import SIGNED_PREFIX, TaskPolicy
from alligator.testing.capable import without
from alligator_locmem import LocmemBackend


@pytest.fixture
def dsn() -> str:
    return f"locmem://{uuid.uuid4().hex}"


def _gator(dsn: str, queue: str = "q") -> Gator:
    return Gator(dsn, queue_name=queue, allow=["sample_tasks"], secret=[])


def test_queue_defaults_to_the_gators_default_queue() -> None:
    args = build_parser().parse_args(["tasks", "locmem://"])
    assert args.queue == Gator("locmem://").queue_name == "all"


def test_table_aligns_numbers_right_and_text_left() -> None:
    out = io.StringIO()
    table(["NAME", "COUNT"], [["a", 1], ["long-name", 1234]], out)
    assert out.getvalue().splitlines() == [
        "NAME       COUNT",
        "a              1",
        "long-name   1234",
    ]


def test_since_says_ago_and_ahead() -> None:
    assert since(100.0, 142.0) == "42s ago"
    assert since(400.0, 100.0) == "in 5m"
    assert since(None, 1.0) == "-"
    assert since(0.0, 3 * 86400.0) == "3d ago"


def test_a_signed_payload_is_decoded_without_checking_its_signature() -> None:
    task = _gator("locmem://sig").task(sample_tasks.add, 1, 2)
    sealed = TaskPolicy(secrets=("k" * 40,)).seal(task.serialize())
    decoded = decode_payload(sealed)
    assert (decoded["signed"], decoded["function"], decoded["args"]) == (True, "sample_tasks:add", [1, 2])
    assert call_text(decoded) == "sample_tasks:add(1, 2)"


def test_an_unreadable_payload_is_described_not_raised() -> None:
    decoded = decode_payload("\x1b[2J{not json")
    assert decoded["function"] is None
    assert decoded["error"].startswith("payload is not valid JSON")
    assert "\x1b" not in call_text(decoded)


def test_call_text_escapes_and_shortens() -> None:
    decoded = decode_payload(json.dumps({"module": "m", "callable": "f", "args": ["\x1b[31m" + "x" * 100]}))
    text = call_text(decoded)
    assert "\x1b" not in text
    assert len(text) <= 60
    assert "..." in text


def test_info_tasks_and_show_on_the_in_memory_store(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    gator = _gator(dsn)
    gator.options(task_id="a").task(sample_tasks.add, 1, 2)
    gator.options(task_id="bad", retries=0).task(sample_tasks.fails_with, "boom")
    gator.get("bad")
    capsys.readouterr()

    assert main(["info", dsn]) == 0
    out = capsys.readouterr().out
    assert [line.split() for line in out.splitlines() if line.startswith("q ")] == [["q", "1", "0", "0", "1"]]
    assert "1 queue, 2 tasks" in out

    assert main(["tasks", dsn, "-q", "q", "--state", "dead", "--json"]) == 0
    (task,) = json.loads(capsys.readouterr().out)["tasks"]
    assert (task["task_id"], task["function"], task["reason"].splitlines()[-1]) == (
        "bad",
        "sample_tasks:fails_with",
        "ValueError: boom",
    )

    assert main(["show", dsn, "a", "-q", "q"]) == 0
    out = capsys.readouterr().out
    assert "status    waiting\n" in out
    assert "args      [1, 2]\n" in out


def test_signed_results_and_reasons_are_shown_without_their_signatures(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    gator = Gator(dsn, queue_name="q", allow=["sample_tasks"], secret="k" * 40)
    gator.options(task_id="ok").task(sample_tasks.add, 1, 2)
    gator.options(task_id="bad", retries=0).task(sample_tasks.fails_with, "boom")
    gator.get("ok"), gator.get("bad")
    stored = capabilities.results(gator.backend).finished("q", "ok")
    assert stored is not None and stored.result is not None and f"\n{SIGNED_PREFIX}" in stored.result
    capsys.readouterr()

    assert main(["result", dsn, "ok", "-q", "q"]) == 0
    assert capsys.readouterr().out == "3\n"
    assert main(["show", dsn, "bad", "-q", "q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"].startswith("raised on attempt 1 of 1")
    assert main(["tasks", dsn, "-q", "q", "--state", "dead", "--json"]) == 0
    (task,) = json.loads(capsys.readouterr().out)["tasks"]
    assert task["reason"].startswith("raised on attempt 1 of 1")


def test_result_checks_signatures_when_the_secret_is_set(
    dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "k" * 40
    gator = Gator(dsn, queue_name="q", allow=["sample_tasks"], secret=key)
    gator.options(task_id="ok").task(sample_tasks.add, 1, 2)
    gator.options(task_id="forged").task(sample_tasks.add, 2, 2)
    gator.get("ok")
    (reservation,) = gator.backend.reserve("q", 30.0)
    capabilities.results(gator.backend).ack_results(
        "q", [Ack(reservation.task_id, reservation.receipt, '{"approved":true}')]
    )
    capsys.readouterr()

    monkeypatch.setenv("ALLIGATOR_SECRET", key)
    assert main(["result", dsn, "ok", "-q", "q"]) == 0
    assert capsys.readouterr().out == "3\n"
    assert main(["result", dsn, "forged", "-q", "q"]) == 1
    out, err = capsys.readouterr()
    assert "approved" not in out + err and "failed its signature check" in err
    assert main(["result", dsn, "forged", "-q", "q", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["result"] is None and "failed its signature check" in data["reason"]
    # Without the secret nothing is checked, as Gator.result without one.
    monkeypatch.delenv("ALLIGATOR_SECRET")
    assert main(["result", dsn, "forged", "-q", "q"]) == 0
    assert capsys.readouterr().out == '{"approved":true}\n'


def test_steering_with_yes_on_the_in_memory_store(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    gator = _gator(dsn)
    for task_id in ("d1", "d2", "d3"):
        gator.options(task_id=task_id, retries=0).task(sample_tasks.fails_with, "boom")
        gator.get(task_id)
    gator.options(task_id="later", delay_by=600).task(sample_tasks.add, 1, 2)
    capsys.readouterr()

    assert main(["requeue", dsn, "-q", "q", "d1", "--yes"]) == 0
    assert main(["delete", dsn, "-q", "q", "d2", "--yes"]) == 0
    assert main(["cancel", dsn, "-q", "q", "later", "--yes"]) == 0
    assert main(["purge", dsn, "-q", "q", "--dead", "--yes", "--json"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == ["d1  requeued", "d2  deleted", "later  cancelled"]
    counts = gator.counts()
    assert (counts.waiting, counts.delayed, counts.dead) == (1, 0, 0)


def test_a_destructive_command_on_a_terminal_asks(
    dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gator = _gator(dsn)
    gator.options(task_id="later", delay_by=600).task(sample_tasks.add, 1, 2)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    assert main(["purge", dsn, "-q", "q"]) == 1
    err = capsys.readouterr().err
    assert "delete EVERYTHING queue 'q' holds in " in err
    assert "0 waiting, 1 delayed, 0 running, 0 dead? [y/N] " in err
    assert gator.counts().delayed == 1

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert main(["purge", dsn, "-q", "q"]) == 0
    assert gator.counts().total == 0


def test_doctor_on_the_in_memory_store(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["doctor", dsn, "--allow", "sample_tasks", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == (0 if data["ok"] else 1)
    checks = {(f["check"], f["level"]) for f in data["findings"]}
    assert ("store", "ok") in checks
    assert ("modules", "ok") in checks


#: A store that keeps no results.
_NoResults = without(
    LocmemBackend, capabilities.Results, capabilities.ResultListing, capabilities.ResultWaiting
)


def test_tasks_succeeded_lists_newest_first_with_results(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 17, 7.9: succeeded tasks could not be listed at all.
    gator = _gator(dsn)
    for n in (1, 2):
        gator.options(task_id=f"t{n}").task(sample_tasks.add, n, 10)
        assert gator.pop() is not None
    assert main(["tasks", dsn, "-q", "q", "--state", "succeeded", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(t["task_id"], t["result"], t["state"]) for t in data["tasks"]] == [
        ("t2", 12, "succeeded"),
        ("t1", 11, "succeeded"),
    ]
    assert main(["tasks", dsn, "-q", "q", "--state", "succeeded", "--limit", "1", "--offset", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["TASK", "FINISHED", "RESULT"]
    assert out[1].split()[0] == "t1" and out[1].split()[-1] == "11"
    assert out[-1] == "succeeded tasks of queue 'q', newest first: 2-2"


def test_tasks_failed_is_the_dead_letters(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    gator = _gator(dsn)
    gator.options(task_id="bad", retries=0).task(sample_tasks.fails_with, "boom")
    gator.pop()
    assert main(["tasks", dsn, "-q", "q", "--state", "failed", "--json"]) == 0
    assert [t["task_id"] for t in json.loads(capsys.readouterr().out)["tasks"]] == ["bad"]


def test_tasks_succeeded_on_a_store_without_results_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    register("noresults", _NoResults)
    assert main(["tasks", f"noresults://{uuid.uuid4().hex}", "--state", "succeeded"]) == 1
    assert "keeps no results" in capsys.readouterr().err
