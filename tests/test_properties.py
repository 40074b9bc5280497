"""Property tests: every JSON task survives the wire; nothing else gets onto it.

The typed values (tuples, datetimes, Decimals...) have their own in test_values.py.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import uuid
import zoneinfo
from typing import Any

import pytest
import sample_tasks
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from alligator import Gator, Task
from alligator.exceptions import NotSerializableError

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)


@settings(max_examples=300)
@given(
    args=st.lists(json_values, max_size=5),
    kwargs=st.dictionaries(identifiers, json_values, max_size=5),
    retries=st.integers(0, 10),
    task_id=st.text(min_size=1, max_size=40).filter(str.isprintable),
    depends_on=st.lists(st.text(min_size=1, max_size=10).filter(str.isprintable), max_size=3),
)
def test_every_json_task_survives_serialize_deserialize(
    args: list[Any], kwargs: dict[str, Any], retries: int, task_id: str, depends_on: list[str]
) -> None:
    assume(task_id not in depends_on)
    task = Task(task_id=task_id, retries=retries, depends_on=depends_on, on_error=sample_tasks.error_hook)
    task.to_call(sample_tasks.echo, *args, **kwargs)
    back = Task.deserialize(task.serialize())
    assert back.task_id == task_id
    assert back.retries == retries
    assert back.depends_on == depends_on
    assert back.on_error == "sample_tasks:error_hook"
    assert (back.module, back.callable) == ("sample_tasks", "echo")
    assert back.func_args == args
    assert back.func_kwargs == kwargs
    assert back.serialize() == task.serialize()


Point = collections.namedtuple("Point", "x y")

not_json = st.one_of(
    st.sets(st.integers(), min_size=1),
    st.binary(min_size=1),
    st.sampled_from([decimal.Decimal("NaN"), decimal.Decimal("-Infinity"), decimal.Decimal("1e5000")]),
    st.builds(Point, st.integers(), st.integers()),
    st.datetimes(timezones=st.just(datetime.timezone(datetime.timedelta(hours=1), "CET"))),
    st.just(object()),
    st.complex_numbers(),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.dictionaries(st.integers(), st.integers(), min_size=1),
)


@settings(max_examples=200)
@given(bad=not_json, position=st.integers(0, 3), nest=st.booleans(), as_kwarg=st.booleans())
def test_values_json_cannot_carry_are_refused_naming_the_argument(
    bad: Any, position: int, nest: bool, as_kwarg: bool
) -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}")
    value = {"inner": [bad]} if nest else bad
    args: list[Any] = [1] * position
    kwargs: dict[str, Any] = {}
    if as_kwarg:
        kwargs["payload"] = value
        expected = "keyword argument 'payload' of echo()"
    else:
        args.append(value)
        expected = f"positional argument {position} of echo()"
    with pytest.raises(NotSerializableError) as info:
        gator.task(sample_tasks.echo, *args, **kwargs)
    assert str(info.value).startswith(expected)
    assert gator.len() == 0


def test_tuples_arrive_as_tuples() -> None:
    task = Task()
    task.to_call(sample_tasks.echo, (1, 2), [(3,)])
    assert Task.deserialize(task.serialize()).func_args == [(1, 2), [(3,)]]


@pytest.mark.parametrize(
    ("value", "advice"),
    [
        (b"bytes", "pass plain data instead"),
        ({1, 2}, "pass plain data instead"),
        ({1: "a"}, "JSON object keys must be strings"),
        (Point(1, 2), r"a subclass of builtins.tuple that would arrive as a plain tuple; pass a tuple"),
        (decimal.Decimal("sNaN"), "only finite numbers"),
        (
            datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(microseconds=1))),
            "would not arrive exactly as it is",
        ),
        (datetime.time(1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")), "a time takes only a datetime.timezone"),
    ],
)
def test_common_mistakes_say_what_to_pass_instead(value: Any, advice: str) -> None:
    with pytest.raises(NotSerializableError, match=advice) as info:
        Task().to_call(sample_tasks.echo, 1, value)
    assert str(info.value).startswith("positional argument 1 of echo()")
