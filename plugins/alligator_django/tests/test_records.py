"""Run records and result ids read defensively: anyone who can write to the store can plant one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alligator_django import records

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=JSON)
def test_any_json_reads_as_a_record_without_raising(value):
    run = records.parse_run(value)
    assert all(isinstance(w, str) and isinstance(t, float) for w, t in run.attempts)
    assert all(isinstance(p, str) and isinstance(t, str) for p, t in run.errors)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '{"attempts": "x"}', "\x00" * 10])
def test_text_that_is_not_a_record_reads_as_an_empty_one(text):
    assert records.parse_run(text) == records.RunRecord()


def test_a_record_round_trips_and_keeps_bounded_errors():
    run = records.RunRecord()
    for n in range(records.MAX_ERRORS + 3):
        run.start("host:1", float(n))
        run.fail("builtins.ValueError", "x" * (records.MAX_TRACEBACK_CHARS + 10))
    again = records.parse_run(run.dumps())
    assert again == run
    assert len(again.errors) == records.MAX_ERRORS
    assert all(len(text) <= records.MAX_TRACEBACK_CHARS + 4 for _, text in again.errors)
    assert not again.running


@pytest.mark.parametrize(
    "result_id",
    [None, 7, "", "x@default", "g" * 32 + "@default", "0" * 32 + "@", "0" * 32, "0" * 32 + "@" + "q" * 200],
)
def test_ids_not_made_by_the_backend_are_refused(result_id):
    assert records.split_result_id(result_id) is None


def test_a_new_id_carries_its_queue_and_enqueue_time():
    split = records.split_result_id(records.new_result_id("emails"))
    assert split is not None
    when, queue = split
    assert queue == "emails" and when > 1.7e9


def send(user_id):
    return user_id


def test_extra_task_arguments_become_alligator_options():
    from django.tasks import task

    from alligator_django.backend import ALLIGATOR_OPTIONS

    given = {"retries": 3, "retry_jitter": False, "time_limit": 60, "unique_for": 30, "rate_limit": "5/s"}
    decorated = task(**given)(send)

    assert decorated.alligator_options() == given
    assert set(given) <= set(ALLIGATOR_OPTIONS)
    assert task()(send).alligator_options() == {}
