"""The texts that cross the queue: a task's payload and a task's stored result, strict JSON.

The values inside them (arguments, return values) are encoded by
:mod:`alligator.values`; this module writes and reads the JSON around them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from alligator import values
from alligator.exceptions import InvalidPayloadError
from alligator.values import MAX_DEPTH

# One encoder for every payload: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
# And for a payload, whose values alligator.values has checked (no cycle,
# bounded depth), the C encoder itself, made once: JSONEncoder.encode makes
# a new one on every call. No circular-reference bookkeeping (a dict shared
# by every thread would be one more race); a cycle slipped in after the
# check ends in RecursionError, which dumps turns into a ValueError.


def _c_encoder() -> Any:
    """The C encoder as ``_ENCODER`` would make it, or None if this Python's differs."""
    sample = {"a": [1.5, "\u00e9", None, True], "b": {}}
    try:
        made = c_make_encoder(
            None, _ENCODER.default, encode_basestring_ascii, None, ":", ",", False, False, False
        )
        return made if "".join(made(sample, 0)) == _ENCODER.encode(sample) else None
    except Exception:  # pragma: no cover - another signature: use the encoder's own way
        return None


_C_ENCODER = _c_encoder()


#: A string as JSON, quotes included (what the encoders write for one).
quote = encode_basestring_ascii


def dumps(data: Any) -> str:
    """Serializes a checked payload (or any checked JSON value in it) compactly.

    Raises:
        TypeError: A value JSON cannot carry.
        ValueError: A float that is not finite, or a value nested without end.
    """
    if _C_ENCODER is None:  # pragma: no cover - CPython always has the C encoder
        return _ENCODER.encode(data)
    try:
        return "".join(_C_ENCODER(data, 0))
    except RecursionError as err:
        raise ValueError(f"the payload is nested too deep: {err}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"the number {name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # `1e999` is valid JSON but parses to infinity.
        raise ValueError(f"the number {text[:40]} is not finite")
    return value


# Payloads and results are written strict (no NaN, no Infinity: see
# _ENCODER), so both are read strict too, by this one decoder: one dialect on
# both sides of the queue. Its errors are ValueErrors the readers below word.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def loads(payload: str | bytes) -> dict[str, Any]:
    """Parses a payload read from a queue into a dict, or says precisely why not.

    It reads the JSON that :func:`dumps` writes and nothing more:
    ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float
    (``1e999``) are refused, as the producer refuses them.

    Example:
        >>> loads('{"args": [1.5]}')
        {'args': [1.5]}

    Raises:
        InvalidPayloadError: Not UTF-8, not JSON, a number that is not
            finite, nested too deep, or not an object.
    """
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidPayloadError(f"payload is not UTF-8: {err}") from err
    if _nesting_exceeds(payload, MAX_DEPTH):
        raise InvalidPayloadError(f"payload is nested more than {MAX_DEPTH} levels deep")
    try:
        data = _DECODER.decode(payload)
    except (ValueError, RecursionError) as err:
        raise InvalidPayloadError(f"payload is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidPayloadError(f"payload is a JSON {type(data).__name__}, not an object")
    return data


#: The payload format of a call whose arguments are plain JSON; a payload of
#: Alligator 0.5.0, which has no version, is read as this one.
PLAIN_VERSION = 1
#: The payload format of a call with a tagged value in its arguments
#: (:mod:`alligator.values`); written only then, so a worker older than the
#: tags refuses exactly the tasks it would misread, and runs every other.
TAGGED_VERSION = 2


def encode_result(value: Any) -> str:
    """Returns a task's return value as the text its result is stored as.

    The same encoding as arguments (:mod:`alligator.values`): a returned
    tuple, datetime or Decimal comes back as itself. One difference, kept
    from before the tags: dict keys that are numbers, booleans or None come
    back as strings, as ``json.dumps`` writes them (an argument refuses
    them). Compact ASCII, so the text's length is its size in bytes.

    Raises:
        NotSerializableError: The value cannot be carried; the message names
            where in it and the type.
    """
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        # What the encoder writes for these, without building its machinery
        # (~5 us a task): most tasks return None, a number or a short text.
        return scalar(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)  # NaN and infinity: refused below, saying so
    return _ENCODER.encode(values.encode(value, values.RETURN_VALUE, max_depth=MAX_DEPTH, json_keys=True))


#: The exact types whose JSON text ``encode_result`` writes directly, as the
#: encoder would (ASCII strings); subclasses (an
#: ``IntEnum``...) take the encoder's path.
_SCALARS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "null",
    bool: lambda value: "true" if value else "false",
    int: int.__repr__,
    str: encode_basestring_ascii,
}


def decode_result(text: str) -> Any:
    """Returns the value a stored result holds (what :func:`encode_result` was given).

    Raises:
        InvalidPayloadError: Not strict JSON, nested too deep, or a tagged
            value that is malformed; the message says which, and reads
            after the result's name (``"is not valid JSON: ..."``).
    """
    if _nesting_exceeds(text, MAX_DEPTH):
        raise InvalidPayloadError(f"is nested more than {MAX_DEPTH} levels deep")
    try:
        data = _DECODER.decode(text)
    except (ValueError, RecursionError) as err:
        raise InvalidPayloadError(f"is not valid JSON: {err}") from err
    try:
        return values.decode(data)
    except ValueError as err:
        raise InvalidPayloadError(f"holds a value that cannot be read: {err}") from err


def _nesting_exceeds(text: str, limit: int) -> bool:
    # A cheap upper bound first: most payloads have few brackets at all.
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
