"""Schedules: their ticks (every, cron, daylight-saving changes), their checks, and the scheduler's rules.

The scheduler runs here with a fake clock and a locmem store; the proofs with
real processes on SQLite and Redis are in ``tests/integration``.
"""

from __future__ import annotations

import datetime
import itertools
import json
import sys
import types
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from sample_tasks import add, noop

from alligator import Gator, Schedule, Task
from alligator.exceptions import BackendError, ConfigurationError
from alligator.schedule_targets import ScheduleTarget, register_target
from alligator.scheduler import Scheduler
from alligator.schedules import load_schedules, next_from_about, tick_task_id

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _at(*parts: int, zone: datetime.tzinfo = PARIS) -> float:
    return datetime.datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[arg-type,misc]


def _local(tick: float) -> str:
    return datetime.datetime.fromtimestamp(tick, PARIS).isoformat()


# -- ticks ---------------------------------------------------------------------


def test_every_ticks_on_multiples_of_the_interval_since_the_epoch() -> None:
    schedule = Schedule("e", noop, every=7)
    assert schedule.next_tick(0.0) == 7.0
    assert schedule.next_tick(13.9) == 14.0
    assert schedule.next_tick(14.0) == 21.0, "strictly after"
    assert schedule.ticks(10.0, 30.0, 100) == [14.0, 21.0, 28.0]
    assert schedule.ticks(10.0, 30.0, 2) == [21.0, 28.0], "the latest ones"
    assert schedule.ticks(14.0, 14.0, 5) == []
    assert Schedule("td", noop, every=datetime.timedelta(minutes=1)).every == 60


def test_cron_ticks_in_the_timezone_agree_forwards_and_backwards() -> None:
    schedule = Schedule("c", noop, cron="0 7 * * mon-fri", timezone="Europe/Paris")
    friday = _at(2026, 12, 4, 12)
    ticks = schedule.ticks(friday, friday + 7 * 86400, 100)
    assert [_local(t) for t in ticks] == [
        "2026-12-07T07:00:00+01:00",
        "2026-12-08T07:00:00+01:00",
        "2026-12-09T07:00:00+01:00",
        "2026-12-10T07:00:00+01:00",
        "2026-12-11T07:00:00+01:00",
    ]
    walked, at = [], friday
    for _ in ticks:
        at = schedule.next_tick(at)
        walked.append(at)
    assert walked == ticks


def test_daylight_saving_changes_follow_croniter() -> None:
    daily = Schedule("d", noop, cron="30 2 * * *", timezone="Europe/Paris")
    # Spring forward (29 March 2026): 02:30 does not exist; croniter runs it at 03:00 that day.
    spring = daily.ticks(_at(2026, 3, 28, 12), _at(2026, 3, 30, 12), 10)
    assert [_local(t) for t in spring] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    # Fall back (25 October 2026): 02:30 happens twice, and so does the tick.
    autumn = daily.ticks(_at(2026, 10, 24, 12), _at(2026, 10, 26, 12), 10)
    assert [_local(t) for t in autumn] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-26T02:30:00+01:00",
    ]
    # An hourly schedule ticks every real hour through the change, none twice.
    hourly = Schedule("h", noop, cron="0 * * * *", timezone="Europe/Paris")
    start = _at(2026, 10, 25, 0, 30)
    ticks = hourly.ticks(start, start + 5 * 3600, 10)
    assert [b - a for a, b in itertools.pairwise(ticks)] == [3600.0] * 4
    assert len(set(tick_task_id("h", t) for t in ticks)) == 5


def test_a_tick_task_id_names_the_schedule_and_the_tick() -> None:
    assert Schedule("s", noop, every=2).task_id(1_800_000_000.0) == "schedule:s:1800000000"
    task = Schedule("s", add, every=2, args=(1,), kwargs={"b": 2}).task(4.0)
    assert (task.task_id, task.func_args, task.func_kwargs) == ("schedule:s:4", [1], {"b": 2})


def test_the_stored_about_says_when_the_next_tick_falls() -> None:
    assert next_from_about(Schedule("e", noop, every=60).about(), 61.0) == 120.0
    cron = Schedule("c", noop, cron="0 7 * * *", timezone="Europe/Paris").about()
    assert json.loads(cron) == {"cron": "0 7 * * *", "missed": "last", "timezone": "Europe/Paris"}
    assert _local(next_from_about(cron, _at(2026, 12, 4, 12)) or 0) == "2026-12-05T07:00:00+01:00"
    for planted in ("", "[]", '{"every": "x"}', '{"cron": "nope"}', '{"every": 5, "timezone": "Mars/Base"}'):
        assert next_from_about(planted, 0.0) is None


# -- checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "give cron= or every="),
        ({"every": 2, "cron": "* * * * *"}, "give cron= or every="),
        ({"every": 0}, "every must be a whole number"),
        ({"every": 1.5}, "every must be a whole number"),
        ({"every": float("nan")}, "every must be a whole number"),
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"cron": "* * * * *", "timezone": "Mars/Base"}, "unknown timezone"),
        ({"every": 2, "missed": "some"}, "missed must be one of"),
        ({"every": 2, "max_missed": 0}, "max_missed must be"),
        ({"every": 2, "queue": ""}, "queue must be"),
        ({"every": 2, "args": (object(),)}, "NotSerializableError"),
        ({"every": 2, "args": (1, 2, 3)}, "TaskArgumentsError"),
    ],
)
def test_a_bad_schedule_is_refused_naming_it(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigurationError, match=f"schedule 'broken': .*{words}"):
        Schedule("broken", add, **kwargs)  # type: ignore[arg-type]


def test_a_function_that_cannot_be_imported_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="schedule 'lambda'"):
        Schedule("lambda", lambda: None, every=2)


@pytest.fixture
def module_named() -> Iterator[str]:
    name = f"planted_schedules_{uuid.uuid4().hex[:8]}"
    yield name
    sys.modules.pop(name, None)


def _plant(name: str, **attrs: object) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module


def test_a_schedule_module_is_loaded_and_checked(module_named: str) -> None:
    assert [s.name for s in load_schedules("schedule_modules")] == ["adds", "nightly"]
    with pytest.raises(ConfigurationError, match="'no_such_schedules_module' does not import"):
        load_schedules("no_such_schedules_module")
    _plant(module_named)
    with pytest.raises(ConfigurationError, match="has no SCHEDULES list"):
        load_schedules(module_named)
    _plant(module_named, SCHEDULES=[Schedule("a", noop, every=2), "nope"])
    with pytest.raises(ConfigurationError, match=r"SCHEDULES\[1\] is a str"):
        load_schedules(module_named)
    _plant(module_named, SCHEDULES=[Schedule("a", noop, every=2), Schedule("a", noop, every=3)])
    with pytest.raises(ConfigurationError, match="two schedules named 'a'"):
        load_schedules(module_named)


# -- the scheduler ---------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _gator() -> Gator:
    return Gator(f"locmem://schedules-{uuid.uuid4().hex}")


def _ticks_in(gator: Gator, name: str, queue: str = "all") -> list[int]:
    found: list[int] = []
    while True:
        held = gator.backend.reserve(queue, 30.0)
        if not held:
            return sorted(found)
        found.append(int(held[0].task_id.rsplit(":", 1)[1]))
        gator.backend.ack(queue, held[0].task_id, held[0].receipt)


def test_a_new_schedule_starts_with_its_first_tick_after_the_scheduler_starts() -> None:
    gator, clock = _gator(), Clock(101.0)
    scheduler = Scheduler(gator, [Schedule("s", noop, every=10)], clock)
    assert scheduler.run_once(101.0) == 110.0, "sleeps until the next tick"
    assert _ticks_in(gator, "s") == []
    assert scheduler.run_once(125.0) == 130.0
    assert _ticks_in(gator, "s") == [110, 120], "a late scheduler enqueues every tick it ran for"


@pytest.mark.parametrize(
    ("missed", "expected"),
    [("none", [200]), ("last", [190, 200]), ("all", [140, 150, 160, 170, 180, 190, 200])],
)
def test_ticks_missed_while_no_scheduler_ran_follow_the_policy(missed: str, expected: list[int]) -> None:
    gator = _gator()
    schedule = Schedule("s", noop, every=10, missed=missed)
    Scheduler(gator, [schedule], Clock(101.0)).run_once(131.0)
    assert _ticks_in(gator, "s") == [110, 120, 130]
    # Nobody runs from 131 to 195; a scheduler starts at 195 and runs at 200. Ticks fell more than
    # LATE_GRACE (10 s) before its start: the policy decides.
    later = Scheduler(gator, [schedule], Clock(195.0))
    later.run_once(200.0)
    assert _ticks_in(gator, "s") == expected


def test_a_scheduler_started_beside_a_late_one_does_not_shut_its_ticks_out() -> None:
    gator = _gator()
    schedule = Schedule("s", noop, every=2)  # missed="last", the default
    running = Scheduler(gator, [schedule], Clock(101.0))
    running.run_once(102.0)
    # It stalls for 4.5 s. Another starts at 106.5, with 102 recorded: 104 and 106 fell before its
    # start. It once pushed only 106 by the "last" policy, and then the late one's 104 was refused.
    Scheduler(gator, [schedule], Clock(106.5)).run_once(106.5)
    running.run_once(106.6)
    assert _ticks_in(gator, "s") == [102, 104, 106], "every tick once: the late one's were not missed"


def test_a_scheduler_restarted_within_seconds_enqueues_every_tick_whatever_the_policy() -> None:
    gator = _gator()
    schedule = Schedule("s", noop, every=2, missed="none")
    Scheduler(gator, [schedule], Clock(101.0)).run_once(102.0)
    # Killed at 102.5, back at 109: every tick since the record fell less than LATE_GRACE before, late.
    Scheduler(gator, [schedule], Clock(109.0)).run_once(109.0)
    assert _ticks_in(gator, "s") == [102, 104, 106, 108]
    # Every minute: the record (120) is a minute old at a restart of seconds; the tick between counts.
    minutely = Schedule("m", noop, every=60, missed="none")
    Scheduler(gator, [minutely], Clock(101.0)).run_once(120.0)
    Scheduler(gator, [minutely], Clock(185.0)).run_once(185.0)  # down from 178 to 185
    assert _ticks_in(gator, "m") == [120, 180]


def test_missed_all_is_capped() -> None:
    gator = _gator()
    schedule = Schedule("s", noop, every=10, missed="all", max_missed=2)
    Scheduler(gator, [schedule], Clock(101.0)).run_once(111.0)
    _ticks_in(gator, "s")
    Scheduler(gator, [schedule], Clock(1000.0)).run_once(1000.0)
    assert _ticks_in(gator, "s") == [990, 1000]


def test_schedulers_on_one_store_enqueue_each_tick_once() -> None:
    gator = _gator()
    schedule = Schedule("s", noop, every=10)
    schedulers = [Scheduler(gator, [schedule], Clock(start)) for start in (101.0, 103.0, 117.0)]
    for now in (105.0, 112.0, 118.0, 121.0, 133.0, 140.5):
        for scheduler in schedulers:
            scheduler.run_once(now)
    assert _ticks_in(gator, "s") == [110, 120, 130, 140]
    assert sum(s.pushed for s in schedulers) == 4


def test_a_tick_that_ran_is_not_enqueued_again_by_a_restarted_scheduler() -> None:
    gator = _gator()
    schedule = Schedule("s", noop, every=10, missed="all")
    Scheduler(gator, [schedule], Clock(101.0)).run_once(112.0)
    assert _ticks_in(gator, "s") == [110], "ran and acked"
    # A scheduler that started before 110 (its clock says so) still runs.
    Scheduler(gator, [schedule], Clock(100.0)).run_once(112.0)
    assert _ticks_in(gator, "s") == []


def test_a_changed_expression_takes_effect_at_its_next_tick_and_is_recorded() -> None:
    gator = _gator()
    Scheduler(gator, [Schedule("s", noop, every=10)], Clock(101.0)).run_once(111.0)
    changed = Schedule("s", noop, every=15)
    Scheduler(gator, [changed], Clock(112.0)).run_once(121.0)
    assert _ticks_in(gator, "s") == [110, 120]
    [record] = gator.backend.schedule_records()  # type: ignore[attr-defined]
    assert (record.last_tick, json.loads(record.about)["every"]) == (120.0, 15)


def test_the_scheduler_thread_sleeps_until_the_next_tick_and_stops_at_once() -> None:
    gator = _gator()
    scheduler = Scheduler(gator, [Schedule("s", noop, every=3600)])
    scheduler.start()
    scheduler.stop(timeout=30.0)
    assert scheduler._thread is not None and not scheduler._thread.is_alive()


class _Outage:
    """Makes a locmem backend's push_tick fail while ``down`` is set, as an unreachable store does."""

    def __init__(self, gator: Gator) -> None:
        self.down = True
        backend: Any = gator.backend
        real = backend.push_tick

        def push_tick(*args: Any) -> bool:
            if self.down:
                raise BackendError("cannot reach the store")
            return bool(real(*args))

        backend.push_tick = push_tick


def test_ticks_that_fell_while_the_store_was_unreachable_are_enqueued_when_it_answers() -> None:
    gator = _gator()
    scheduler = Scheduler(gator, [Schedule("s", noop, every=10, missed="none")], Clock(101.0))
    outage = _Outage(gator)
    with pytest.raises(BackendError):
        scheduler.run_once(125.0)
    outage.down = False
    scheduler.run_once(141.0)
    assert _ticks_in(gator, "s") == [110, 120, 130, 140], "late, not missed: the scheduler was running"


def test_a_planted_record_that_is_no_number_counts_as_none() -> None:
    gator = _gator()
    backend: Any = gator.backend
    backend._schedules[("all", "s")] = ("soon", "{}")
    assert backend.schedule_records() == []
    Scheduler(gator, [Schedule("s", noop, every=10)], Clock(101.0)).run_once(111.0)
    assert _ticks_in(gator, "s") == [110]


# -- targets a plugin registers --------------------------------------------------


class _Recipe:
    """An object of a framework's own: not a function, so no tick can call it as one."""

    def __init__(self, dish: str) -> None:
        self.dish = dish


class _RecipeTarget(ScheduleTarget):
    enqueued_here: list[tuple[str, str]] = []

    def default_queue(self) -> str:
        return "kitchen"

    def task_id(self, name: str, tick: float, queue: str) -> str:
        return f"recipe-{name}-{int(tick)}@{queue}"

    def task(self, task_id: str, queue: str, args: Any, kwargs: Any) -> Task:
        task = Task(task_id=task_id, retries=2)
        task.to_call(add, len(self.target.dish), *args)
        return task

    def enqueued(self, task: Task, queue: str) -> None:
        self.enqueued_here.append((task.task_id, queue))


def test_a_registered_target_says_how_its_ticks_are_queued_and_hears_of_each() -> None:
    register_target(_Recipe, _RecipeTarget)
    gator = _gator()
    schedule = Schedule("soup", _Recipe("soup"), every=10, args=(1,))
    assert isinstance(schedule.target, _RecipeTarget) and schedule.queue == "kitchen"

    scheduler = Scheduler(gator, [schedule], Clock(101.0))
    scheduler.run_once(121.0)
    # A second scheduler's pushes of the same ticks are refused: no second hook call.
    Scheduler(gator, [schedule], Clock(101.0)).run_once(121.0)

    assert _RecipeTarget.enqueued_here == [
        ("recipe-soup-110@kitchen", "kitchen"),
        ("recipe-soup-120@kitchen", "kitchen"),
    ]
    held = gator.backend.reserve("kitchen", 30.0)
    task = Task.deserialize(gator.policy.open(held[0].payload))
    assert (task.task_id, task.callable, task.func_args, task.retries) == (
        "recipe-soup-110@kitchen",
        "add",
        [4, 1],
        2,
    )


def test_a_target_refusing_its_arguments_stops_the_schedule_at_start() -> None:
    register_target(_Recipe, _RecipeTarget)
    with pytest.raises(ConfigurationError, match=r"schedule .bad.*NotSerializableError"):
        Schedule("bad", _Recipe("x"), every=10, args=({1, 2},))
