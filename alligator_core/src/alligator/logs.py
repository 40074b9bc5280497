"""Log formats of ``latergator``: lines for people, JSON objects for log shippers.

``latergator --log-format json`` writes one JSON object per line, which
Loki, Elasticsearch, CloudWatch and the like read without a parsing rule::

    {"time": "2026-11-27T04:10:00.123Z", "level": "INFO", "logger": "alligator.worker",
     "message": "...", "task_id": "3f2a...", "function": "sosocial.tasks:send_post_email",
     "queue": "all", "duration": 0.051, "outcome": "success"}

Fields passed to a logging call with ``extra=`` (the worker passes
``task_id``, ``function``, ``queue``, ``duration`` and ``outcome``) become
fields of the object; a traceback becomes the ``traceback`` field.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, TextIO

#: ``latergator --log-format`` choices.
FORMATS = ("text", "json")

#: The format of a text line.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Local time with its UTC offset, e.g. ``2026-11-27 05:02:11+0000``.
TEXT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S%z"

# Every attribute a bare LogRecord has: anything else on a record came from
# ``extra=`` and is worth shipping.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object on one line.

    Example:
        >>> record = logging.LogRecord("alligator.worker", logging.INFO, "", 0, "ran %s", ("t1",), None)
        >>> record.task_id = "t1"
        >>> line = json.loads(JsonFormatter().format(record))
        >>> (line["level"], line["message"], line["task_id"])
        ('INFO', 'ran t1', 't1')

    The keys are ``time`` (UTC, ISO 8601 with milliseconds), ``level``,
    ``logger`` and ``message``, then every field given with ``extra=``, then
    ``traceback`` when the record carries one. A value JSON cannot carry is
    written as its ``str()``, so a log call never fails on it.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Returns the record as one line of JSON."""
        when = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
        entry: dict[str, Any] = {
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: a shipper reading bytes never trips on a stray
        # surrogate from a task's exception message.
        return json.dumps(entry, default=str, ensure_ascii=True)


def configure(level: str = "INFO", log_format: str = "text", stream: TextIO | None = None) -> None:
    """Sends every log record of the process to ``stream`` in the given format.

    Args:
        level: The level name: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        log_format: ``"text"`` (one readable line per record) or ``"json"``
            (one :class:`JsonFormatter` object per line).
        stream: Where to write; standard error by default.

    Raises:
        ValueError: ``log_format`` is not one of :data:`FORMATS`.
    """
    if log_format not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    # The offset in every timestamp: a setup module (Django's TIME_ZONE) may
    # change the process's local time zone after start.
    text = logging.Formatter(TEXT_FORMAT, datefmt=TEXT_DATE_FORMAT)
    handler.setFormatter(JsonFormatter() if log_format == "json" else text)
    # force: replace the handlers of an earlier call (main() run twice in one
    # process, in tests). A --setup module imported afterwards may still add
    # its own configuration.
    logging.basicConfig(level=level, handlers=[handler], force=True)
