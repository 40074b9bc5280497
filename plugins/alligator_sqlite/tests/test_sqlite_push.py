"""What one push costs the SQLite file, and the order it leaves among tasks due at the same instant.

A push reads the sequence counter inside its insert rather than drawing from
it (see ``push_one_task`` in ``sql/queries.sql``): the counter's row is not
written, so a commit writes one page fewer to the log. The order of tasks
due at the same instant must stay the order of the pushes, releases and
requeues that put them there, ties on ``seq`` broken by ``rowid``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.testing import FakeClock
from alligator_sqlite import SqliteBackend

LEASE = 30.0


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    # A clock that never moves: every task is due at the same instant, so
    # only seq (and rowid) order them.
    backend.clock = FakeClock(1_000_000.0)
    yield backend
    backend.close()


def _statements(backend: SqliteBackend) -> list[str]:
    """Starts recording every statement this thread's connection runs; returns the record."""
    seen: list[str] = []
    backend._connection().set_trace_callback(lambda statement: seen.append(" ".join(statement.split())))
    return seen


def _counter(backend: SqliteBackend) -> int:
    (value,) = backend._connection().execute("SELECT value FROM alligator_meta WHERE key = 'seq'").fetchone()
    return int(value)


def _drain_order(backend: SqliteBackend, queue: str) -> list[str]:
    return [r.task_id for r in backend.reserve(queue, LEASE, 100)]


def test_a_push_is_one_insert_and_two_lookups_and_leaves_the_counter_alone(backend: SqliteBackend) -> None:
    backend.push("q", "first", "payload")
    before = _counter(backend)
    seen = _statements(backend)
    assert backend.push("q", "second", "payload") is True
    backend._connection().set_trace_callback(None)
    words = [statement.split(None, 2)[:2] for statement in seen]
    # BEGIN IMMEDIATE, the insert, forgetting an earlier status and result
    # of the id, COMMIT: no UPDATE of the counter's row (a page of its own).
    assert words == [
        ["BEGIN", "IMMEDIATE"],
        ["INSERT", "OR"],
        ["DELETE", "FROM"],
        ["DELETE", "FROM"],
        ["COMMIT"],
    ]
    assert not [statement for statement in seen if "alligator_meta SET" in statement]
    assert _counter(backend) == before
    assert _drain_order(backend, "q") == ["first", "second"]


def test_a_taken_id_is_still_refused_and_a_dead_letter_id_too(backend: SqliteBackend) -> None:
    assert backend.push("q", "a", "one") is True
    assert backend.push("q", "a", "two") is False
    (held,) = backend.reserve("q", LEASE, 1)
    assert backend.dead_letter("q", "a", held.receipt, "broken") is True
    assert backend.push("q", "a", "three") is False
    assert backend.reserve("q", LEASE, 1) == []
    assert [letter.task_id for letter in backend.dead_letters("q")] == ["a"]


def test_tasks_due_at_the_same_instant_keep_the_order_they_were_queued_in(backend: SqliteBackend) -> None:
    backend.push("q", "a", "p")
    backend.push("q", "b", "p")
    held = {r.task_id: r.receipt for r in backend.reserve("q", LEASE, 2)}
    # b, the newest row, finishes: the next push may take its rowid again.
    assert backend.ack("q", "b", held["b"]) is True
    # a goes to the back of the queue, behind everything queued so far...
    assert backend.release("q", "a", held["a"]) is True
    # ...and what is queued after it comes after it, one push at a time or in a batch.
    backend.push("q", "c", "p")
    backend.push_many("q", [("d", "p", 0.0), ("e", "p", 0.0)])
    backend.push("q", "f", "p")
    # A dead letter requeued now comes last, and a push after it after it.
    backend.push("other", "x", "p")
    (letter,) = backend.reserve("other", LEASE, 1)
    assert backend.dead_letter("other", "x", letter.receipt, "broken") is True
    backend.push("q", "g", "p")
    assert backend.requeue("other", "x") is True
    backend.push("other", "y", "p")
    assert _drain_order(backend, "q") == ["a", "c", "d", "e", "f", "g"]
    assert _drain_order(backend, "other") == ["x", "y"]


def test_the_listings_show_tasks_due_together_in_the_order_reserve_takes_them(backend: SqliteBackend) -> None:
    for task_id in ("a", "b", "c"):
        backend.push("q", task_id, "p")
    (first,) = backend.reserve("q", LEASE, 1)
    assert backend.release("q", first.task_id, first.receipt) is True
    backend.push("q", "d", "p")
    listed = [task.task_id for task in backend.tasks("q", "waiting")]
    assert listed == ["b", "c", "a", "d"] == _drain_order(backend, "q")
