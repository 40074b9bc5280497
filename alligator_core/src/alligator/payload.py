"""What may cross the queue: JSON values only, checked before anything is enqueued."""

from __future__ import annotations

import json
import math
from typing import Any

from alligator.exceptions import InvalidPayloadError, NotSerializableError

#: Deepest nesting of lists and objects a payload may have. Python's json
#: module recurses, so a hostile payload nested a million deep would raise
#: RecursionError inside the worker; refusing early keeps the error ours.
MAX_DEPTH = 100


def check_json(value: Any, where: str, path: str = "", depth: int = 0) -> None:
    """Raises unless ``value`` is a JSON value that survives a round trip.

    Tuples are accepted and arrive as lists. Everything else that JSON
    would change or cannot hold is refused: sets, bytes, datetimes, objects,
    non-string object keys (JSON would turn ``1`` into ``"1"``), NaN and the
    infinities.

    Args:
        value: The value to check.
        where: How to name it in the error, e.g. ``"positional argument 0"``.
        path: Where inside it the value sits, e.g. ``"[1]['when']"`` (callers
            leave it empty).
        depth: How deep the value sits (callers leave it at 0).

    Raises:
        NotSerializableError: Naming the offending place and its type.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return
    name = f"{where}, at {path}," if path else where
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotSerializableError(f"{name} is {value!r}, which JSON cannot carry")
        return
    if depth >= MAX_DEPTH:
        raise NotSerializableError(f"{name} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json(item, where, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotSerializableError(
                    f"{name} has the key {key!r} of type {type(key).__name__}; "
                    "JSON object keys must be strings"
                )
            check_json(item, where, f"{path}[{key!r}]", depth + 1)
        return
    kind = type(value)
    raise NotSerializableError(
        f"{name} is a {kind.__module__}.{kind.__qualname__}, which JSON cannot carry; "
        "pass plain data instead (ids, strings, numbers, lists, dicts)"
    )


# One encoder for every payload: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dumps(data: dict[str, Any]) -> str:
    """Serializes a checked payload compactly."""
    return _ENCODER.encode(data)


def _refuse_constant(name: str) -> Any:
    raise InvalidPayloadError(f"payload has the number {name}, which JSON does not allow")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # `1e999` is valid JSON but parses to infinity.
        raise InvalidPayloadError(f"payload has the number {text[:40]}, which is not finite")
    return value


# The producer writes strict JSON (no NaN, no Infinity: see _ENCODER), so the
# worker reads strict JSON too: one dialect on both sides of the queue.
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
