"""The values a task's arguments and result may hold, and how they cross the queue.

Plain JSON values (None, booleans, numbers, strings, lists, dicts with
string keys) travel as themselves. A short allow list of everyday types
travels as a *tagged* JSON object, ``{"$t": TAG, "v": VALUE}``, and arrives as
the same type:

============================  ==========  ==========================================
type                          tag         ``"v"``
============================  ==========  ==========================================
``tuple``                     tuple       a list of the items
``datetime.datetime``         datetime    ISO 8601, ``[Zone/Name]`` after a zoneinfo zone
``datetime.date``             date        ISO 8601
``datetime.time``             time        ISO 8601
``datetime.timedelta``        timedelta   ``[days, seconds, microseconds]``
``uuid.UUID``                 uuid        the canonical 36-character form
``decimal.Decimal``           decimal     ``str(value)``, exactly
a dict with the key ``"$t"``  dict        the dict itself (so no user dict is misread)
============================  ==========  ==========================================

A ``datetime`` or ``time`` whose ``fold`` is 1 carries ``"fold": 1`` too. No
other class is ever built from a payload: the tags are the allow list.
Anything else is refused when the task is created (:class:`~alligator.exceptions.NotSerializableError`
naming the argument and the type), and so is a value the encoding would not
give back exactly (a subclass of one of these types, which would arrive as its
base; a time zone other than ``datetime.timezone`` or ``zoneinfo.ZoneInfo``).
"""

from __future__ import annotations

import datetime
import json
import math
import re
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from alligator.exceptions import NotSerializableError

if TYPE_CHECKING:  # pragma: no cover
    import decimal
    import zoneinfo

#: The key that marks a tagged value.
TAG = "$t"
#: Deepest nesting of lists and objects a payload may have. Python's json
#: module recurses, so a hostile payload nested a million deep would raise
#: RecursionError inside the worker; refusing early keeps the error ours.
MAX_DEPTH = 100
#: Levels a payload spends around an argument (``{"args": [...]}``): an
#: argument may nest this much less than :data:`MAX_DEPTH`, so that every
#: payload the producer writes is one the worker reads.
ARGUMENT_DEPTH = 2
#: The most digits, and the largest exponent either way, a Decimal may have.
#: It is Python's own limit on converting long numbers
#: (``sys.int_info.default_max_str_digits``), since ``int()`` of a Decimal
#: with a huge exponent runs for minutes.
MAX_DECIMAL_DIGITS = 4300

#: How an argument's or a return value's refusal is named (see :func:`encode`).
RETURN_VALUE = "the return value"
_PLAIN_DATA = (
    "plain data instead (ids, strings, numbers, lists, dicts, tuples, "
    "datetimes, dates, times, timedeltas, UUIDs, Decimals)"
)
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


def encode(
    value: Any, where: str, *, max_depth: int = MAX_DEPTH - ARGUMENT_DEPTH, json_keys: bool = False
) -> Any:
    """Returns ``value`` as plain JSON data, tagging the types JSON lacks; or refuses it.

    A value that is plain JSON already is returned as it is (the same
    object), so ``encode(x, ...) is x`` says that no tag was needed.

    Example:
        >>> encode((1, datetime.date(2026, 12, 6)), "positional argument 0")
        {'$t': 'tuple', 'v': [1, {'$t': 'date', 'v': '2026-12-06'}]}

    Args:
        value: An argument or a return value.
        where: How to name it in an error, e.g. ``"positional argument 0 of send()"``.
        max_depth: Deepest nesting of the encoded JSON (a tagged value counts
            as one level, a tuple as two).
        json_keys: Turn dict keys that are numbers, booleans or None into
            strings, as ``json.dumps`` does, instead of refusing them. Results
            have always been stored so; arguments refuse them, since the
            function would receive other keys than it was called with.

    Returns:
        JSON data (dicts, lists, strings, numbers, booleans, None).

    Raises:
        NotSerializableError: Naming the offending place and its type.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value  # the common case, without building an encoder
    try:
        return _Encoder(where, json_keys).encode(value, None, max_depth)
    except _TooDeep as deep:
        raise NotSerializableError(
            f"{_place(where, deep.path)} is nested more than {max_depth} levels deep "
            "(a tuple counts as two, another tagged value as one)"
        ) from None


#: Where a value sits inside an argument, built only for an error message:
#: ``(parent, key or index)`` links, None at the top.
_Path = tuple[Any, Any] | None


class _TooDeep(Exception):
    def __init__(self, path: _Path) -> None:
        super().__init__(path)
        self.path = path


class _Encoder:
    """One walk through a value; ``where`` names it in errors."""

    def __init__(self, where: str, json_keys: bool) -> None:
        self.where = where
        self.json_keys = json_keys

    def encode(self, value: Any, path: _Path, room: int) -> Any:
        where = self.where
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise NotSerializableError(f"{_place(where, path)} is {value!r}, which JSON cannot carry")
            return value
        if room <= 0:
            raise _TooDeep(path)
        kind = type(value)
        if isinstance(value, list):
            return self.items(value, path, room - 1)
        if isinstance(value, dict):
            return self.mapping(value, path, room)
        if kind is tuple:
            if room < 2:
                raise _TooDeep(path)
            items = self.items(value, path, room - 2)
            return {TAG: "tuple", "v": items if isinstance(items, list) else list(items)}
        scalar = _SCALARS.get(kind) or _scalars().get(kind)
        if scalar is not None:
            if room < (1 if scalar.text else 2):
                raise _TooDeep(path)
            return _encode_scalar(value, scalar, where, path)
        raise NotSerializableError(_refusal(value, where, path))

    def items(self, items: list[Any] | tuple[Any, ...], path: _Path, room: int) -> Any:
        encoded = None
        for index, item in enumerate(items):
            new = self.encode(item, (path, index), room)
            if new is not item and encoded is None:
                encoded = list(items[:index])
            if encoded is not None:
                encoded.append(new)
        # Plain data stays the very object it was: no copy on the common path.
        return items if encoded is None else encoded

    def mapping(self, value: dict[Any, Any], path: _Path, room: int) -> Any:
        escaped = TAG in value
        levels = 2 if escaped else 1
        if room < levels:
            raise _TooDeep(path)
        encoded: dict[str, Any] | None = None
        for index, (key, item) in enumerate(value.items()):
            name = key if isinstance(key, str) else self.key(key, path)
            new = self.encode(item, (path, key), room - levels)
            if (new is not item or name is not key) and encoded is None:
                encoded = dict(list(value.items())[:index])
            if encoded is not None:
                encoded[name] = new
        body = value if encoded is None else encoded
        # A user dict that has the tag key is escaped, so it is never read as a tag.
        return {TAG: "dict", "v": body} if escaped else body

    def key(self, key: Any, path: _Path) -> str:
        if self.json_keys and (key is None or isinstance(key, (bool, int, float))):
            return str(_KEY_ENCODER.encode(key))
        raise NotSerializableError(
            f"{_place(self.where, path)} has the key {key!r} of type {type(key).__name__}; "
            "JSON object keys must be strings"
        )


_KEY_ENCODER = json.JSONEncoder(allow_nan=False)


def _place(where: str, path: _Path) -> str:
    if path is None:
        return where
    steps = []
    while path is not None:
        path, step = path
        steps.append(f"[{step!r}]")
    return f"{where}, at {''.join(reversed(steps))},"


def _refusal(value: Any, where: str, path: _Path) -> str:
    kind = type(value)
    name = f"{kind.__module__}.{kind.__qualname__}"
    for base in (tuple, *_scalars()):
        if isinstance(value, base):
            # A namedtuple, a pandas Timestamp...: it would arrive as its base type.
            return (
                f"{_place(where, path)} is a {name}, a subclass of {base.__module__}.{base.__qualname__} "
                f"that would arrive as a plain {base.__qualname__}; pass a {base.__qualname__} "
                "(or plain data) instead"
            )
    verb = "return" if where == RETURN_VALUE else "pass"
    return f"{_place(where, path)} is a {name}, which JSON cannot carry; {verb} {_PLAIN_DATA}"


# -- the tagged scalars ----------------------------------------------------


def _zone_suffix(tz: datetime.tzinfo | None, what: str) -> str:
    """The ``[Zone/Name]`` a zoneinfo zone adds, or ``""``; refuses time zones it cannot carry."""
    if tz is None or type(tz) is datetime.timezone:
        return ""
    # Not imported at the top: zoneinfo (and the sysconfig it loads, ~0.2 MiB)
    # would be part of every worker process's RSS, and a ZoneInfo exists only
    # once its module was imported.
    zones = sys.modules.get("zoneinfo")
    if zones is not None and type(tz) is zones.ZoneInfo:
        key = cast("zoneinfo.ZoneInfo", tz).key
        if key is not None and what == "datetime":
            return f"[{key}]"
    raise ValueError(
        f"its time zone is a {type(tz).__module__}.{type(tz).__qualname__}, which cannot be carried; "
        "use datetime.timezone.utc, a datetime.timezone offset or a zoneinfo.ZoneInfo"
        + ("" if what == "datetime" else " (a time takes only a datetime.timezone)")
    )


def _dump_datetime(value: datetime.datetime) -> str:
    return value.isoformat() + _zone_suffix(value.tzinfo, "datetime")


def _load_datetime(text: str) -> datetime.datetime:
    stamp, zone = _split_zone(text)
    value = datetime.datetime.fromisoformat(stamp)
    if zone is None:
        return value
    if value.tzinfo is None:
        raise ValueError("a zone name needs a UTC offset before it")
    # The wall time in the zone; the caller checks that the offset agrees.
    return value.replace(tzinfo=_zone(zone))


def _split_zone(text: str) -> tuple[str, str | None]:
    if not text.endswith("]"):
        return text, None
    stamp, bracket, zone = text[:-1].partition("[")
    if not bracket or not _ZONE_NAME.fullmatch(zone) or len(zone) > 64:
        raise ValueError("the zone name is not one zoneinfo knows")
    return stamp, zone


def _zone(name: str) -> zoneinfo.ZoneInfo:
    import zoneinfo  # only a payload that names a zone needs it (see _zone_suffix)

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError(
            f"the time zone {name} is unknown on this machine ({type(err).__name__}); "
            "install the tzdata package"
        ) from err


def _dump_time(value: datetime.time) -> str:
    _zone_suffix(value.tzinfo, "time")
    return value.isoformat()


def _dump_timedelta(value: datetime.timedelta) -> list[int]:
    return [value.days, value.seconds, value.microseconds]


def _load_timedelta(data: Any) -> datetime.timedelta:
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not all(type(part) is int for part in data)
        or not (0 <= data[1] < 86400 and 0 <= data[2] < 1_000_000)
    ):
        raise ValueError("it must be [days, seconds 0-86399, microseconds 0-999999]")
    return datetime.timedelta(days=data[0], seconds=data[1], microseconds=data[2])


def _dump_decimal(value: decimal.Decimal) -> str:
    _check_decimal(value)
    return str(value)


def _load_decimal(text: str) -> decimal.Decimal:
    if len(text) > 2 * MAX_DECIMAL_DIGITS:
        raise ValueError(f"it has more than {MAX_DECIMAL_DIGITS} digits")
    import decimal  # only a payload holding a Decimal needs it (see _scalars)

    value = decimal.Decimal(text)
    _check_decimal(value)
    return value


def _check_decimal(value: decimal.Decimal) -> None:
    if not value.is_finite():
        raise ValueError(f"it is {value}, which cannot be carried (only finite numbers)")
    digits = len(value.as_tuple().digits)
    if digits > MAX_DECIMAL_DIGITS or abs(value.adjusted()) > MAX_DECIMAL_DIGITS:
        raise ValueError(f"it has more than {MAX_DECIMAL_DIGITS} digits or an exponent beyond that")


class _Scalar:
    """How one allow-listed type becomes JSON and back."""

    def __init__(self, tag: str, dump: Callable[[Any], Any], load: Callable[[Any], Any], text: bool) -> None:
        self.tag, self.dump, self.load, self.text = tag, dump, load, text


_SCALARS: dict[type, _Scalar] = {
    datetime.datetime: _Scalar("datetime", _dump_datetime, _load_datetime, True),
    datetime.date: _Scalar("date", datetime.date.isoformat, datetime.date.fromisoformat, True),
    datetime.time: _Scalar("time", _dump_time, datetime.time.fromisoformat, True),
    datetime.timedelta: _Scalar("timedelta", _dump_timedelta, _load_timedelta, False),
    uuid.UUID: _Scalar("uuid", str, uuid.UUID, True),
}
_DECIMAL = _Scalar("decimal", _dump_decimal, _load_decimal, True)
_BY_TAG = {scalar.tag: scalar for scalar in (*_SCALARS.values(), _DECIMAL)}


def _scalars() -> dict[type, _Scalar]:
    """The allow-listed types and how each travels, ``decimal.Decimal`` among them once it is imported.

    Not imported at the top: decimal (with numbers, ~0.3 MiB) would be part
    of every worker process's RSS, and no Decimal value exists before its
    module was imported; a payload holding one imports it (``_load_decimal``).
    """
    module = sys.modules.get("decimal")
    if module is not None and module.Decimal not in _SCALARS:
        _SCALARS[module.Decimal] = _DECIMAL
    return _SCALARS


def _encode_scalar(value: Any, scalar: _Scalar, where: str, path: _Path) -> dict[str, Any]:
    try:
        tagged: dict[str, Any] = {TAG: scalar.tag, "v": scalar.dump(value)}
    except ValueError as err:
        raise NotSerializableError(f"{_place(where, path)} is a {_type_name(value)}: {err}") from err
    if getattr(value, "fold", 0):
        tagged["fold"] = 1
    # Only what comes back exactly may go: the rule is checked, not hoped for.
    try:
        back = _decode_scalar(tagged)
    except ValueError:
        back = None
    if back is None or not identical(back, value):
        raise NotSerializableError(
            f"{_place(where, path)} is a {_type_name(value)} that would not arrive exactly as it is: "
            f"{value!r}"
        )
    return tagged


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


# -- reading ---------------------------------------------------------------


def decode(data: Any) -> Any:
    """Returns the value :func:`encode` made ``data`` from.

    Example:
        >>> decode({"$t": "tuple", "v": [1, {"$t": "uuid", "v": "12345678-1234-5678-1234-567812345678"}]})
        (1, UUID('12345678-1234-5678-1234-567812345678'))

    Args:
        data: JSON data, as ``json.loads`` returns it (already checked
            for depth by the caller).

    Raises:
        ValueError: A tagged value is malformed, has an unknown tag, or
            holds text its type does not read; the message says where.
    """
    return _decode(data, "")


def _decode(data: Any, path: str) -> Any:
    if isinstance(data, list):
        return [_decode(item, f"{path}[{index}]") for index, item in enumerate(data)]
    if not isinstance(data, dict):
        return data
    if TAG not in data:
        return {key: _decode(item, f"{path}[{key!r}]") for key, item in data.items()}
    tag = data[TAG]
    extra = set(data) - {TAG, "v", "fold"}
    if "v" not in data or extra or ("fold" in data and tag not in ("datetime", "time")):
        raise ValueError(f"the tagged value at {path or 'the top'} must have exactly the keys '$t' and 'v'")
    body = data["v"]
    if tag == "tuple":
        if not isinstance(body, list):
            raise ValueError(f"the tuple at {path or 'the top'} must hold a list")
        return tuple(_decode(item, f"{path}[{index}]") for index, item in enumerate(body))
    if tag == "dict":
        if not isinstance(body, dict):
            raise ValueError(f"the escaped dict at {path or 'the top'} must hold an object")
        return {key: _decode(item, f"{path}[{key!r}]") for key, item in body.items()}
    try:
        return _decode_scalar(data)
    except ValueError as err:
        raise ValueError(
            f"the {_short(tag)} value {_short(body)} at {path or 'the top'} cannot be read: {err}"
        ) from err


def _decode_scalar(data: dict[str, Any]) -> Any:
    scalar = _BY_TAG.get(data[TAG]) if isinstance(data[TAG], str) else None
    if scalar is None:
        raise ValueError("it is not a type Alligator carries (a newer version may; upgrade this worker)")
    body, fold = data["v"], data.get("fold", 0)
    if scalar.text and not isinstance(body, str):
        raise ValueError(f"'v' must be a string, not a {type(body).__name__}")
    if fold not in (0, 1) or isinstance(fold, bool) or ("fold" in data and fold != 1):
        raise ValueError("'fold' may only be 1")
    try:
        value = scalar.load(body)
        if fold:
            value = value.replace(fold=1)
        canonical = scalar.dump(value)
    except (ValueError, TypeError, OverflowError, ArithmeticError) as err:
        raise ValueError(str(err) or type(err).__name__) from err
    # One spelling per value: what the encoder would not write is refused.
    if canonical != body:
        raise ValueError("it is not in the form Alligator writes")
    return value


def _short(value: Any) -> str:
    from alligator.text import printable

    return printable(repr(value), 60)


# -- exactness -------------------------------------------------------------


def identical(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same value of the same types, all the way down.

    Stricter than ``==``: ``(1,) != [1]``, ``1 != 1.0``, ``Decimal("1.10") !=
    Decimal("1.1")``, ``-0.0 != 0.0``, dict keys in the same order, and
    datetimes with the same time zone, offset and ``fold``.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[key], b[key]) for key in a)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    numbers = sys.modules.get("decimal")  # a Decimal exists only once it is imported (see _scalars)
    if numbers is not None and isinstance(a, numbers.Decimal):
        return bool(a.as_tuple() == b.as_tuple())
    if isinstance(a, (datetime.datetime, datetime.time)):
        return (
            a == b
            and a.fold == b.fold
            and type(a.tzinfo) is type(b.tzinfo)
            and a.tzinfo == b.tzinfo
            and a.utcoffset() == b.utcoffset()
            and a.tzname() == b.tzname()
        )
    return bool(a == b)
