"""Hypothesis strategies for the values a task's arguments and result may hold.

Property-test your own tasks' arguments as Alligator tests its encoding::

    from hypothesis import given
    from alligator.testing import assert_round_trips
    from alligator.testing.strategies import carryable_values

    from myapp.tasks import send_report


    @given(when=carryable_values())
    def test_any_value_reaches_the_worker(when):
        assert_round_trips(send_report, 42, when=when)

Needs ``hypothesis`` (``alligator-core[testing]``).
"""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import strategies as st

from alligator.values import MAX_DECIMAL_DIGITS, TAG

# A minute-aligned offset, as real zones have (seconds-aligned ones too, but rarely).
_FIXED_OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
)


def _zones() -> st.SearchStrategy[Any]:
    fixed: st.SearchStrategy[Any] = st.just(datetime.timezone.utc) | _FIXED_OFFSETS
    return fixed | st.timezones()


def carryable_scalars() -> st.SearchStrategy[Any]:
    """Every kind of single value a task's argument or result may be.

    None, booleans, integers, finite floats, text, naive and aware
    ``datetime`` (fixed offsets and ``zoneinfo`` zones, including times a
    daylight-saving change skips or repeats), ``date``, ``time`` (naive and
    with a fixed offset), ``timedelta``, ``UUID`` and finite ``Decimal``.
    """
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
        st.datetimes(),
        st.datetimes(timezones=_zones()),
        st.dates(),
        st.times(),
        st.times(timezones=st.just(datetime.timezone.utc) | _FIXED_OFFSETS),
        st.timedeltas(),
        st.uuids(),
        st.decimals(allow_nan=False, allow_infinity=False).filter(
            lambda d: (
                abs(d.adjusted()) <= MAX_DECIMAL_DIGITS and len(d.as_tuple().digits) <= MAX_DECIMAL_DIGITS
            )
        ),
    )


def carryable_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Values a task's argument or result may be: :func:`carryable_scalars` in lists, tuples and dicts.

    Dict keys are any text, ``"$t"`` (the tag key, which the encoding must
    escape) included.

    Args:
        max_leaves: About how many scalars one value holds at most.
    """
    keys = st.text(max_size=10) | st.just(TAG)
    return st.recursive(
        carryable_scalars(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=4).map(tuple)
            | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def call_arguments(max_leaves: int = 20) -> st.SearchStrategy[tuple[tuple[Any, ...], dict[str, Any]]]:
    """``(args, kwargs)`` of a call whose every value is carryable.

    For a function that takes ``*args, **kwargs``:
    ``assert_round_trips(func, *args, **kwargs)``.
    """
    names = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)
    return st.tuples(
        st.lists(carryable_values(max_leaves), max_size=4).map(tuple),
        st.dictionaries(names, carryable_values(max_leaves), max_size=4),
    )
