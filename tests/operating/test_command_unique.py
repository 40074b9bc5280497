"""``alligator unique``: the keys held in a queue, on SQLite and Redis, and a store that keeps none."""

from __future__ import annotations

import json

import pytest
import sample_tasks
from operating_helpers import Alligator, Store

from alligator.command import main
from alligator.registry import register
from alligator.testing.capable import without
from alligator.unique_store import UniqueKeys
from alligator_locmem import LocmemBackend


def test_lists_the_held_keys_with_their_holders(alligator: Alligator, store: Store) -> None:
    gator = store.gator()
    report = gator.options(unique_for=600, unique_key="report-2026").task(sample_tasks.add, 1, 2)
    started = gator.options(unique_for=60, unique_mode="until_started").task(sample_tasks.add, 3, 4)
    cancelled = gator.options(unique_for=600, unique_key="gone").task(sample_tasks.add, 5, 6)
    assert gator.cancel(cancelled.task_id)
    ran = alligator("unique", store.dsn, "--queue", store.queue)
    assert ran.returncode == 0, ran.stderr
    assert ran.lines()[0].split() == ["KEY", "HELD", "BY", "MODE", "AT", "MOST"]
    assert ran.row("report-2026")[1:3] == [report.task_id, "until_finished"]
    [by_call] = [line.split() for line in ran.lines() if line.startswith("sample_tasks:add:")]
    assert by_call[1:3] == [started.task_id, "until_started"], "the default key: the function and arguments"
    assert "gone" not in ran.stdout, "a cancelled holder's key is free, so not listed"
    as_json = alligator("unique", store.dsn, "--queue", store.queue, "--json")
    keys = json.loads(as_json.stdout)["keys"]
    assert (keys[0]["key"], keys[0]["holder"]) == ("report-2026", report.task_id)
    assert len(keys) == 2


def test_an_empty_queue_says_so(alligator: Alligator, store: Store) -> None:
    ran = alligator("unique", store.dsn, "--queue", store.queue)
    assert (ran.returncode, ran.stdout) == (0, f"no unique key is held in {store.queue!r}\n")


def test_a_store_without_the_capability_says_what_it_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    register("locmem-no-unique", without(LocmemBackend, UniqueKeys))
    assert main(["unique", "locmem-no-unique://x"]) == 1
    assert "cannot keep unique keys" in capsys.readouterr().err
