"""Typed values: tuples, datetimes, dates, times, timedeltas, UUIDs and Decimals arrive as themselves.

The encoding (``alligator.values``) is property-tested with the strategies
Alligator ships for users' own tests (``alligator.testing.strategies``); the
payload versions keep old payloads reading exactly as before; hostile tagged
values are dead-lettered with the reason, and the worker carries on.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
import zoneinfo
from typing import Any

import pytest
import sample_tasks
from hypothesis import given, settings
from hypothesis import strategies as st

from alligator import Gator, Task, Worker
from alligator.exceptions import InvalidPayloadError, NotSerializableError
from alligator.payload import decode_result, encode_result, loads
from alligator.testing import assert_result_round_trips, assert_round_trips
from alligator.testing.strategies import call_arguments, carryable_scalars, carryable_values
from alligator.values import MAX_DEPTH, decode, encode, identical

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
EVERYDAY: list[Any] = [
    (1, "a"),
    datetime.datetime(2026, 12, 6, 20, 0, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 12, 6, 20, 0),
    datetime.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1),  # the second 02:30 of the night
    datetime.datetime(2026, 3, 29, 2, 30, tzinfo=PARIS),  # a time the clocks skip
    datetime.datetime(2026, 6, 1, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-7))),
    datetime.date(2026, 12, 6),
    datetime.time(9, 30, 0, 250),
    datetime.time(9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
    datetime.timedelta(days=-1, seconds=5, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("19.90"),
    decimal.Decimal("-0"),
    decimal.Decimal("1E+40"),
    {"$t": "datetime", "v": "2026-12-06"},  # a user dict with the tag key is never misread
    {"nested": [(datetime.date(2026, 1, 1), {"$t": 1})]},
]


# -- the round trip ----------------------------------------------------------


@pytest.mark.parametrize("value", EVERYDAY, ids=repr)
def test_everyday_values_arrive_as_themselves(value: Any) -> None:
    back = assert_round_trips(sample_tasks.echo, value, key=value)
    assert identical(back.func_args[0], value) and identical(back.func_kwargs["key"], value)
    assert identical(assert_result_round_trips(value), value)


@settings(max_examples=300)
@given(call=call_arguments())
def test_every_carryable_call_survives_the_queue(call: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
    args, kwargs = call
    back = assert_round_trips(sample_tasks.echo, *args, **kwargs)
    # One spelling per call: writing what was read gives the same payload.
    assert back.serialize() == Task.deserialize(back.serialize()).serialize()


@settings(max_examples=300)
@given(value=carryable_values())
def test_every_carryable_value_encodes_to_plain_json_and_back(value: Any) -> None:
    encoded = encode(value, "value")
    text = json.dumps(encoded, allow_nan=False)
    assert identical(decode(json.loads(text)), value)
    assert identical(assert_result_round_trips(value), value)


@settings(max_examples=200)
@given(value=carryable_values())
def test_plain_json_is_left_as_it_is(value: Any) -> None:
    plain = json.loads(json.dumps(encode(value, "value")))
    if not _holds_a_tag(plain):
        # No tag needed: the very object, no copy, and decoding changes nothing.
        assert encode(plain, "value") is plain
        assert identical(decode(plain), plain)


def _holds_a_tag(data: Any) -> bool:
    if isinstance(data, list):
        return any(_holds_a_tag(item) for item in data)
    if isinstance(data, dict):
        return "$t" in data or any(_holds_a_tag(item) for item in data.values())
    return False


@settings(max_examples=100)
@given(value=carryable_scalars())
def test_the_strategies_draw_only_what_the_encoding_carries(value: Any) -> None:
    assert_round_trips(sample_tasks.echo, value)


def test_values_reach_the_function_and_come_back_through_a_worker() -> None:
    # In this process; tests/integration/test_values_stores.py does it with a
    # worker process on SQLite and Redis.
    gator = Gator(f"locmem://{uuid.uuid4().hex}", allow=["sample_tasks"])
    task = gator.task(sample_tasks.echo, *EVERYDAY, when=EVERYDAY[1])
    done = gator.pop()
    assert done is not None
    result = gator.result(task.task_id)
    assert identical(result, {"args": list(EVERYDAY), "kwargs": {"when": EVERYDAY[1]}})
    gator.backend.close()


# -- payload versions: old payloads read exactly as before --------------------


def _call_payload(**fields: Any) -> str:
    body: dict[str, Any] = {"task_id": "t1", "module": "sample_tasks", "callable": "echo", "retries": 0}
    body.update(fields)
    return json.dumps(body)


def test_a_plain_call_is_written_as_version_1_byte_for_byte() -> None:
    task = Task(task_id="t1")
    task.to_call(sample_tasks.echo, 1, [2, {"a": None}], key="x")
    assert task.serialize() == (
        '{"v":1,"task_id":"t1","module":"sample_tasks","callable":"echo",'
        '"args":[1,[2,{"a":null}]],"kwargs":{"key":"x"},"retries":0,"is_async":true}'
    )


def test_a_call_with_a_typed_value_is_version_2() -> None:
    task = Task(task_id="t1")
    task.to_call(sample_tasks.echo, (1,), when=datetime.date(2026, 1, 1))
    data = json.loads(task.serialize())
    assert data["v"] == 2
    assert data["args"] == [{"$t": "tuple", "v": [1]}]
    assert data["kwargs"] == {"when": {"$t": "date", "v": "2026-01-01"}}


@pytest.mark.parametrize("version", [{"v": 1}, {}])  # today's format, and 0.5.0's (no "v")
def test_tag_shaped_dicts_in_old_payloads_stay_dicts(version: dict[str, Any]) -> None:
    tagged = {"$t": "datetime", "v": "2026-12-06T20:00:00+00:00"}
    task = Task.deserialize(
        _call_payload(args=[tagged, [1, 2]], kwargs={"k": {"$t": "tuple", "v": [1]}}, **version)
    )
    assert task.func_args == [tagged, [1, 2]]
    assert task.func_kwargs == {"k": {"$t": "tuple", "v": [1]}}


def test_version_2_without_a_tag_is_refused() -> None:
    with pytest.raises(InvalidPayloadError, match="payload format version 2 is written only for arguments"):
        Task.deserialize(_call_payload(v=2, args=[1, [2]], kwargs={"a": {"b": 1}}))


def test_arguments_changed_after_to_call_are_encoded_or_refused_when_written() -> None:
    task = Task()
    task.to_call(sample_tasks.echo, 1, key="x")
    task.func_args = [(1, 2)]
    assert json.loads(task.serialize())["args"] == [{"$t": "tuple", "v": [1, 2]}]
    task.func_args.append(datetime.date(2026, 1, 1))  # in place, after the last check
    assert Task.deserialize(task.serialize()).func_args == [(1, 2), datetime.date(2026, 1, 1)]
    plain = Task()
    plain.to_call(sample_tasks.echo, 1)
    plain.func_args.append(uuid.UUID(int=1))
    assert Task.deserialize(plain.serialize()).func_args == [1, uuid.UUID(int=1)]
    plain.func_kwargs["bad"] = {1, 2}
    with pytest.raises(NotSerializableError, match=r"keyword argument 'bad' of echo\(\) is a builtins.set"):
        plain.serialize()


def test_top_level_keyword_names_are_names_not_tags() -> None:
    task = Task()
    task.to_call(sample_tasks.echo, (1,), **{"$t": "tuple", "v": 3})
    assert json.loads(task.serialize())["kwargs"] == {"$t": "tuple", "v": 3}
    assert Task.deserialize(task.serialize()).func_kwargs == {"$t": "tuple", "v": 3}


# -- hostile tagged values -----------------------------------------------------

HOSTILE = [
    (
        {"$t": "datetime", "v": "2026-13-45T99:00:00"},
        "the 'datetime' value '2026-13-45T99:00:00' at [0] cannot be read",
    ),
    ({"$t": "date", "v": 20261206}, "'v' must be a string"),
    ({"$t": "decimal", "v": "1E+999999999999999999"}, "more than 4300 digits or an exponent beyond"),
    ({"$t": "decimal", "v": "NaN"}, "only finite numbers"),
    ({"$t": "decimal", "v": "1" * 10_000}, "more than 4300 digits"),
    ({"$t": "decimal", "v": "1_000"}, "not in the form Alligator writes"),
    ({"$t": "uuid", "v": "{12345678-1234-5678-1234-567812345678}"}, "not in the form Alligator writes"),
    ({"$t": "uuid", "v": "nope"}, "the 'uuid' value 'nope' at [0] cannot be read"),
    ({"$t": "timedelta", "v": [10**12, 0, 0]}, "cannot be read"),
    ({"$t": "timedelta", "v": [0, 90000, 0]}, "seconds 0-86399"),
    ({"$t": "datetime", "v": "2026-01-01T00:00:00+00:00[../../etc/passwd]"}, "not one zoneinfo knows"),
    ({"$t": "datetime", "v": "2026-01-01T00:00:00+00:00[No/Such_Zone]"}, "unknown on this machine"),
    ({"$t": "datetime", "v": "2026-06-01T00:00:00+01:00[Europe/Paris]"}, "not in the form Alligator writes"),
    ({"$t": "datetime", "v": "2026-01-01T00:00:00", "fold": 2}, "'fold' may only be 1"),
    ({"$t": "date", "v": "2026-01-01", "fold": 1}, "exactly the keys"),
    ({"$t": "set", "v": [1]}, "not a type Alligator carries"),
    ({"$t": "builtins.object", "v": "x"}, "not a type Alligator carries"),
    ({"$t": ["tuple"], "v": [1]}, "not a type Alligator carries"),
    ({"$t": "tuple", "v": [1], "extra": 1}, "exactly the keys"),
    ({"$t": "tuple"}, "exactly the keys"),
    ({"$t": "tuple", "v": "ab"}, "must hold a list"),
    ({"$t": "dict", "v": [1]}, "must hold an object"),
]


@pytest.mark.parametrize(("value", "reason"), HOSTILE, ids=[reason for _, reason in HOSTILE])
def test_a_hostile_tagged_value_is_refused_with_the_reason(value: Any, reason: str) -> None:
    with pytest.raises(InvalidPayloadError, match="payload is not a valid task: ") as info:
        Task.deserialize(_call_payload(v=2, args=[value]))
    assert reason in str(info.value)
    assert str(info.value).isprintable()


def test_hostile_tagged_values_are_dead_lettered_and_the_worker_carries_on() -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", allow=["sample_tasks"])
    for index, (value, _) in enumerate(HOSTILE):
        gator.backend.push(
            gator.queue_name, f"bad-{index}", _call_payload(task_id=f"bad-{index}", v=2, args=[value])
        )
    deep = '{"$t":"tuple","v":[' * 60 + "1" + "]}" * 60
    gator.backend.push(
        gator.queue_name,
        "deep",
        _call_payload(task_id="deep", v=2).replace('"retries"', f'"args":[{deep}],"retries"'),
    )
    good = gator.task(sample_tasks.add, 1, 2)
    Worker(gator, max_tasks=len(HOSTILE) + 2).run_forever()
    letters = {letter.task_id: letter.reason for letter in gator.dead_letters()}
    for index, (_, reason) in enumerate(HOSTILE):
        assert letters[f"bad-{index}"].startswith("unreadable payload: payload is not a valid task: ")
        assert reason in letters[f"bad-{index}"]
    assert "nested more than 100 levels deep" in letters["deep"]
    assert gator.status(good.task_id) is not None and good.task_id not in letters


# -- refusals at enqueue ---------------------------------------------------------


def test_a_value_nested_as_deep_as_a_worker_reads_is_accepted_and_one_deeper_is_refused() -> None:
    value: Any = 1
    for _ in range(MAX_DEPTH - 2):  # the payload object and the args list are two levels
        value = [value]
    back = assert_round_trips(sample_tasks.echo, value)
    assert identical(back.func_args[0], value)
    with pytest.raises(NotSerializableError, match=r"positional argument 0 of echo\(\), at \[0\]"):
        Task().to_call(sample_tasks.echo, [value])
    with pytest.raises(NotSerializableError, match="nested more than 98 levels deep"):
        Task().to_call(sample_tasks.echo, (value[0],))  # a tuple is two levels


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {1, 2},
            "positional argument 0 of echo(), at [1]['when'], is a builtins.set, which JSON cannot carry",
        ),
        (
            object(),
            "positional argument 0 of echo(), at [1]['when'], is a builtins.object, which JSON cannot carry",
        ),
    ],
)
def test_refusals_still_name_the_argument_the_place_and_the_type(value: Any, message: str) -> None:
    with pytest.raises(NotSerializableError) as info:
        Task().to_call(sample_tasks.echo, (1, {"when": value}))
    assert str(info.value).startswith(message)


def test_a_result_that_cannot_be_stored_names_the_place_and_the_type() -> None:
    with pytest.raises(
        NotSerializableError, match=r"the return value, at \[0\], is a builtins.set.*; return plain data"
    ):
        encode_result(({1},))
    assert decode_result(encode_result((1, decimal.Decimal("2.50")))) == (1, decimal.Decimal("2.50"))
    with pytest.raises(InvalidPayloadError, match=r"holds a value that cannot be read: the 'date' value"):
        decode_result('{"$t":"date","v":"never"}')


def test_the_payload_reader_still_refuses_deep_nesting() -> None:
    with pytest.raises(InvalidPayloadError, match="nested more than 100 levels deep"):
        loads("[" * 101 + "]" * 101)


@settings(max_examples=50)
@given(text=st.text(max_size=30))
def test_random_text_in_a_tag_never_escapes_as_anything_but_a_value_error(text: str) -> None:
    for tag in ["datetime", "date", "time", "uuid", "decimal"]:
        try:
            value = decode({"$t": tag, "v": text})
        except ValueError as err:
            assert "cannot be read" in str(err)
        else:
            assert type(value).__module__ in {"datetime", "uuid", "decimal"}


@given(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.integers(min_value=10**4000, max_value=10**4400)
)
def test_a_scalar_result_is_written_as_the_encoder_writes_it(value: object) -> None:
    """Issue 20: scalars skip the encoder's machinery (~5 us a task); text and errors stay the same."""
    from alligator import payload, values

    def written(encode: Any) -> tuple[str, object]:
        try:
            return "ok", encode(value)
        except Exception as err:  # the same refusal, word for word
            return type(err).__name__, str(err)

    def by_the_encoder(v: object) -> str:
        plain = values.encode(v, values.RETURN_VALUE, max_depth=payload.MAX_DEPTH, json_keys=True)
        return payload._ENCODER.encode(plain)

    assert written(payload.encode_result) == written(by_the_encoder)


def test_decimals_and_zones_are_read_and_written_in_a_process_that_had_not_imported_their_modules() -> None:
    """Issue 20: decimal and zoneinfo are imported by the payload that needs them, not by alligator.values."""
    import subprocess
    import sys

    script = """
import sys
from alligator.values import decode, encode, identical
assert "decimal" not in sys.modules and "zoneinfo" not in sys.modules, "loaded at import"
amount = decode({"$t": "decimal", "v": "1.10"})
when = decode({"$t": "datetime", "v": "2026-10-25T02:30:00+01:00[Europe/Paris]", "fold": 1})
import decimal, zoneinfo
assert type(amount) is decimal.Decimal and str(amount) == "1.10"
assert not identical(amount, decimal.Decimal("1.1")) and identical(amount, decimal.Decimal("1.10"))
assert type(when.tzinfo) is zoneinfo.ZoneInfo and when.fold == 1
assert encode(amount, "x") == {"$t": "decimal", "v": "1.10"}
assert encode(when, "x") == {"$t": "datetime", "v": "2026-10-25T02:30:00+01:00[Europe/Paris]", "fold": 1}
class Cents(decimal.Decimal):
    pass
try:
    encode(Cents("1"), "x")
except Exception as err:
    assert "a subclass of decimal.Decimal" in str(err), err
else:
    raise AssertionError("a Decimal subclass was carried")
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
