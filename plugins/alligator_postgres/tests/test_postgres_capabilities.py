"""Unique keys, schedules, limits and priorities on PostgreSQL: hostile rows, many clients at once.

The kit (``test_postgres_contract.py``) proves each capability's rules; these
tests prove what is PostgreSQL's own: rows anyone with write access could
plant are survived (a clear refusal, or skipped, never an error that stops
the queue), and steps from many connections at once, each with its own
transaction, keep the limits exact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest

from alligator.limit_store import LimitState
from alligator.scheduling_store import ScheduleRecord
from alligator_postgres import PostgresBackend

LEASE = 30.0
HOUR = 3600.0


@pytest.fixture
def backend(schema_dsn: str) -> Iterator[PostgresBackend]:
    backend = PostgresBackend(schema_dsn)
    yield backend
    backend.close()


def plant(dsn: str, statement: str, params: tuple[object, ...] = ()) -> None:
    """Writes rows by hand, as anyone with write access to the tables could."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement, params)


def at_once(clients: int, step: Callable[[int], object]) -> list[object]:
    """Runs ``step(n)`` in ``clients`` threads released together; returns what each returned."""
    results: list[object] = [None] * clients
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def run(n: int) -> None:
        try:
            start.wait(60)
            results[n] = step(n)
        except BaseException as err:  # reported below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


# -- priorities ---------------------------------------------------------------


@pytest.mark.parametrize("priority", [101, -101, 32767])
def test_a_priority_out_of_range_cannot_be_planted(
    backend: PostgresBackend, schema_dsn: str, priority: int
) -> None:
    backend.push("q", "good", "x")
    with pytest.raises(psycopg.errors.CheckViolation):
        plant(schema_dsn, "UPDATE alligator_tasks SET priority = %s", (priority,))
    with pytest.raises(psycopg.errors.CheckViolation):
        plant(
            schema_dsn,
            "INSERT INTO alligator_tasks (queue, task_id, payload, due, priority) "
            "VALUES ('q', 'bad', 'x', 0, %s)",
            (priority,),
        )
    [got] = backend.reserve("q", LEASE, 10)
    assert got.task_id == "good"


def test_a_dead_letter_keeps_its_priority_in_the_listing(backend: PostgresBackend) -> None:
    assert backend.push_prioritized("q", [("high", "x", 0.0, 7)]) == 1
    [held] = backend.reserve("q", LEASE)
    assert backend.dead_letter("q", "high", held.receipt, "broken")
    [letter] = backend.tasks("q", "dead")
    assert (letter.task_id, letter.priority) == ("high", 7)


# -- unique keys ----------------------------------------------------------------


def test_a_planted_unique_record_holds_nothing_and_is_replaced(
    backend: PostgresBackend, schema_dsn: str
) -> None:
    far = backend.now() + HOUR
    plant(
        schema_dsn,
        "INSERT INTO alligator_unique_keys (queue, key, holder, mode, until) VALUES "
        "('q', 'odd-mode', 'ghost', 'forever', %s), ('q', 'huge-holder', %s, 'throttle', %s), "
        "('q', %s, 'h', 'throttle', %s)",
        (far, "h" * 100_000, far, "k" * 100_000, far),
    )
    assert backend.unique_keys("q") == [], "no planted record is listed"
    assert backend.push_unique("q", "a", "x", 0.0, "odd-mode", "until_finished", 60.0) == (True, "")
    assert backend.push_unique("q", "b", "x", 0.0, "huge-holder", "until_finished", 60.0) == (True, "")
    assert [(k.key, k.holder) for k in backend.unique_keys("q")] == [("huge-holder", "b"), ("odd-mode", "a")]


@pytest.mark.parametrize("until", ["'NaN'", "'Infinity'", "'-Infinity'"])
def test_a_unique_record_that_ends_never_cannot_be_planted(
    schema_dsn: str, backend: PostgresBackend, until: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        plant(
            schema_dsn,
            "INSERT INTO alligator_unique_keys (queue, key, holder, mode, until) "
            f"VALUES ('q', 'k', 'h', 'throttle', {until})",
        )


def test_unique_pushes_from_many_connections_queue_one_task_per_key(schema_dsn: str) -> None:
    clients = [PostgresBackend(schema_dsn) for _ in range(8)]
    try:
        outcomes = at_once(
            8,
            lambda n: [
                clients[n].push_unique("q", f"t{n}-{k}", "x", 0.0, f"key-{k}", "until_finished", 60.0)
                for k in range(10)
            ],
        )
        queued = [pushed for results in outcomes for pushed, _ in results]  # type: ignore[attr-defined]
        assert sum(queued) == 10, "one task per key, whatever the interleaving"
        assert clients[0].len("q") == 10
        assert len(clients[0].unique_keys("q")) == 10
    finally:
        for client in clients:
            client.close()


# -- schedules --------------------------------------------------------------


def test_planted_schedule_records_are_skipped_and_never_stop_a_tick(
    backend: PostgresBackend, schema_dsn: str
) -> None:
    plant(
        schema_dsn,
        "INSERT INTO alligator_schedule_ticks (queue, name, last_tick, about) VALUES "
        "('q', 'long-about', 1, %s), ('q', %s, 1, '{}'), ('q', 'tab\tname', 1, '{}'), ('q', 'fine', 1, '{}')",
        ("a" * 10_000, "n" * 500),
    )
    assert backend.schedule_records() == [ScheduleRecord("fine", "q", 1.0, "{}")]
    assert backend.push_tick("q", "long-about", 2.0, "schedule:long-about:2", "{}", "{}") is True
    assert ScheduleRecord("long-about", "q", 2.0, "{}") in backend.schedule_records()
    with pytest.raises(psycopg.errors.CheckViolation):
        plant(schema_dsn, "UPDATE alligator_schedule_ticks SET last_tick = 'NaN'")


# -- limits -----------------------------------------------------------------------


def test_a_rate_taken_from_many_connections_at_once_lets_exactly_count_go(schema_dsn: str) -> None:
    clients = [PostgresBackend(schema_dsn) for _ in range(8)]
    try:
        waits = at_once(8, lambda n: [clients[n].take_rate("api", f"h{n}-{i}", 5, HOUR) for i in range(3)])
        flat = [wait for each in waits for wait in each]  # type: ignore[attr-defined]
        assert flat.count(0.0) == 5, "five per hour went; the other takes booked later slots"
        booked = sorted(wait for wait in flat if wait)
        assert len(set(booked)) == len(booked) == 19, "each waiting take booked a slot of its own"
    finally:
        for client in clients:
            client.close()


def test_slots_acquired_from_many_connections_at_once_never_exceed_the_limit(schema_dsn: str) -> None:
    clients = [PostgresBackend(schema_dsn) for _ in range(8)]
    try:
        waits = at_once(8, lambda n: clients[n].acquire_slot("db", f"h{n}", 3, 60.0))
        assert waits.count(0.0) == 3
        [state] = [s for s in clients[0].limit_states() if s.key == "db"]
        assert (state.held, state.waiting) == (3, 5)
    finally:
        for client in clients:
            client.close()


def test_any_text_is_a_limit_key_nul_included(backend: PostgresBackend) -> None:
    key = "tenant\x00é"
    assert backend.take_rate(key, "h", 1, HOUR) == 0.0
    assert backend.take_rate(key, "g", 1, HOUR) > 0
    assert backend.acquire_slot(key, "h", 1, 60.0) == 0.0
    assert backend.extend_slot(key, "h", 60.0) is True
    assert [(s.kind, s.key) for s in backend.limit_states()] == [("concurrency", key), ("rate", key)]
    assert backend.release_slot(key, "h") is True


def test_hand_written_limit_rows_are_survived(backend: PostgresBackend, schema_dsn: str) -> None:
    plant(
        schema_dsn,
        "INSERT INTO alligator_limit_rates (key, tat, count, per) VALUES "
        "('far', 1e300, 1, 1), ('\\xff'::bytea, 1e300, 1, 1), (%s, 1e300, 1, 1)",
        (b"k" * 1000,),
    )
    plant(
        schema_dsn,
        "INSERT INTO alligator_limit_slots (key, holder, lease_end, lim) VALUES "
        "('slots', 'eternal', 1e300, 1), ('\\xfe'::bytea, 'x', %s, 1)",
        (backend.now() + 60,),
    )
    states = backend.limit_states()
    assert states == [], "a key that is no UTF-8, too long, or a time past any horizon is skipped"
    assert backend.take_rate("far", "h", 1, 1.0) == 0.0, "a time a day or more ahead is not believed"
    assert backend.acquire_slot("slots", "me", 1, 30.0) == 0.0, "a lease further ahead than any is dropped"
    assert backend.extend_slot("slots", "eternal", 30.0) is False
    assert LimitState("concurrency", "slots", "1", 1, 0) in backend.limit_states()
    for bad in ("tat = 'NaN'", "tat = 'Infinity'", "count = 0", "per = 0"):
        with pytest.raises(psycopg.errors.CheckViolation):
            plant(schema_dsn, f"UPDATE alligator_limit_rates SET {bad}")
