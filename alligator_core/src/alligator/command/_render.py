"""Turning what the store holds into text a terminal can show safely, and into JSON.

Everything shown here may have been written by whoever can write to the
store: ids, queue names, payloads, reasons, worker records. Every piece of it
goes through :func:`alligator.text.printable` before it reaches the terminal,
so a hostile payload cannot move the cursor, recolour the screen or forge a
line of output.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from alligator.security import SIGNED_PREFIX
from alligator.text import printable

#: Longest cell of a table; longer text is cut with "...".
MAX_CELL = 60
#: Payload keys that say what to call; every other key is an option.
CALL_KEYS = ("v", "task_id", "module", "callable", "args", "kwargs")


def cell(value: object, limit: int = MAX_CELL) -> str:
    """Returns one table cell: escaped, on one line, at most ``limit`` characters."""
    if value is None:
        return "-"
    return printable(value, limit)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO | None = None) -> None:
    """Prints rows under headers, each column as wide as its widest cell.

    Columns whose header is upper case and whose cells are numbers are
    right-aligned, the rest left-aligned; the last column is not padded.
    """
    out = out or sys.stdout
    texts = [[cell(value) for value in row] for row in rows]
    numeric = [
        all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) for row in rows) and bool(rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(row[i]) for row in texts]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, text in enumerate(values):
            last = i == len(values) - 1
            if numeric[i]:
                parts.append(text.rjust(widths[i]))
            else:
                parts.append(text if last else text.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    out.write(line(list(headers)) + "\n")
    for row in texts:
        out.write(line(row) + "\n")


def dump_json(data: Any, out: TextIO | None = None) -> None:
    """Prints ``data`` as one JSON document (keys sorted, ASCII only, so no escape reaches a terminal)."""
    out = out or sys.stdout
    out.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True, default=str) + "\n")


def since(moment: float | None, now: float) -> str:
    """Says how long ago (or how far ahead) ``moment`` is: ``"12s ago"``, ``"in 3m"``, ``"-"``."""
    if moment is None or not math.isfinite(moment):
        return "-"
    delta = moment - now
    text = duration(abs(delta))
    return f"in {text}" if delta > 0.5 else f"{text} ago"


def duration(seconds: float) -> str:
    """Shortens a number of seconds: ``"42s"``, ``"5m"``, ``"3h"``, ``"2d"``."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def decode_payload(payload: str) -> dict[str, Any]:
    """Reads a stored payload into what a person wants to see of it; never raises.

    The signature of a signed payload is set aside, not checked (this tool
    runs nothing).

    Returns:
        ``{"function", "args", "kwargs", "options", "signed", "error"}``:
        ``function`` is ``"module:callable"``; ``options`` every other key
        of the payload (retries, hooks, time limit...); ``error`` is None,
        or why the payload cannot be read (then the other keys are None).
    """
    from alligator import payload as _payload
    from alligator.exceptions import InvalidPayloadError

    signed = payload.startswith(SIGNED_PREFIX)
    body = payload
    if signed:
        _digest, dot, rest = payload[len(SIGNED_PREFIX) :].partition(".")
        body = rest if dot else payload
    empty: dict[str, Any] = {"function": None, "args": None, "kwargs": None, "options": None}
    try:
        fields = _payload.loads(body)
    except InvalidPayloadError as err:
        return {**empty, "signed": signed, "error": str(err)}
    module, function = fields.get("module"), fields.get("callable")
    if not isinstance(module, str) or not isinstance(function, str):
        return {**empty, "signed": signed, "error": "payload names no module and callable"}
    args = fields.get("args", [])
    kwargs = fields.get("kwargs", {})
    return {
        "function": f"{module}:{function}",
        "args": args if isinstance(args, list) else None,
        "kwargs": kwargs if isinstance(kwargs, dict) else None,
        "options": {key: value for key, value in fields.items() if key not in CALL_KEYS},
        "signed": signed,
        "error": None,
    }


def call_text(decoded: dict[str, Any], limit: int = MAX_CELL) -> str:
    """Shows a decoded payload as a call, ``module:function(1, 'a', x=2)``, cut to ``limit``."""
    if decoded["error"] is not None:
        return printable(f"<unreadable: {decoded['error']}>", limit)
    parts = [_short(arg) for arg in decoded["args"] or []]
    parts += [f"{printable(key, 40)}={_short(value)}" for key, value in (decoded["kwargs"] or {}).items()]
    return printable(f"{decoded['function']}({', '.join(parts)})", limit)


def _short(value: Any) -> str:
    return printable(json.dumps(value, ensure_ascii=False), 30)


def lines(text: str) -> list[str]:
    """Splits multi-line text (a traceback) into lines, each escaped on its own."""
    return [printable(line, 1000) for line in text.rstrip("\n").split("\n")]


def json_or_text(text: str | None) -> Any:
    """A stored result as JSON shows it: the decoded value, or the text itself when it is not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
