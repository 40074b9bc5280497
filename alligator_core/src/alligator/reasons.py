"""Why a store will not hand a record out: every reason text, written once, here.

A store measures a record before it transfers it (an oversized one never
enters a worker's memory) and dead-letters a bad one alone, in the same
atomic step, so the checks run inside each store; the words they write do
not. Each text is a printf-style template (``%s``, ``%d``: the same in
Python's ``%`` and Lua's ``string.format``):

- Python stores format it with the functions below, and decode a record's
  bytes with :func:`decode`: the size limit first (a text over it is not
  even read), then strict UTF-8.
- The Redis plugin's scripts receive the templates when they are loaded
  (its ``__NAME__`` placeholders, :data:`LUA_TEMPLATES`) and format them
  with ``string.format`` in the same script that dead-letters the record.

A backend author keeps these texts exactly (the kit checks them): operators
search their logs and dead letters for them.
"""

from __future__ import annotations

__all__ = [
    "CORRUPT",
    "CORRUPT_REPLY",
    "LUA_TEMPLATES",
    "MISSING",
    "NOT_UTF8",
    "PAYLOAD",
    "RESULT",
    "RETURNED_TOO_LARGE",
    "TASK_ID",
    "TEMPLATES",
    "TOO_LARGE",
    "Unreadable",
    "corrupt",
    "decode",
    "not_utf8",
    "too_large",
]

#: A task's payload, as a reason names it.
PAYLOAD = "payload"
#: A task's id, as a reason names it.
TASK_ID = "task id"
#: A task's kept result, as a reason names it.
RESULT = "result"

#: A stored text over its limit. Formatted with what it is, its size in
#: bytes and the limit.
TOO_LARGE = "%s is %d bytes, over the limit of %d"
#: A stored text whose bytes are not strict UTF-8. Formatted with what it is.
NOT_UTF8 = "%s is not valid UTF-8"
#: A text a store's index lists but that is gone. Formatted with what it is.
MISSING = "%s is missing"
#: A stored number that is no valid number. Formatted with the field's name
#: and its value as shown (quoted, shortened, as in ``'abc'``).
CORRUPT = "record is corrupt: %s is %s"
#: A store's reply whose delivery counts are no counts. Formatted with both,
#: as shown.
CORRUPT_REPLY = "record is corrupt: the reply held %s and %s"
#: A task's return value, once encoded, over the store's limit. Formatted
#: with its size and the limit.
RETURNED_TOO_LARGE = (
    "returned %d bytes, over the limit of %d; keep large data elsewhere and return "
    "where it is, or queue the task with store_result=False"
)

#: Every template of this module.
TEMPLATES = (TOO_LARGE, NOT_UTF8, MISSING, CORRUPT, CORRUPT_REPLY, RETURNED_TOO_LARGE)

#: What a Lua script is given, by placeholder name. The templates it formats,
#: and the names of the texts they name.
LUA_TEMPLATES = {
    "TOO_LARGE": TOO_LARGE,
    "NOT_UTF8": NOT_UTF8,
    "MISSING": MISSING,
    "CORRUPT": CORRUPT,
    "PAYLOAD": PAYLOAD,
    "TASK_ID": TASK_ID,
    "RESULT": RESULT,
}


class Unreadable(ValueError):
    """A stored text that must not be handed out; its message is the reason."""


def too_large(what: str, size: int, limit: int) -> str:
    """The reason for a text over its limit.

    Example:
        >>> too_large(PAYLOAD, 12, 10)
        'payload is 12 bytes, over the limit of 10'

    Args:
        what: What it is (:data:`PAYLOAD`, :data:`TASK_ID`, :data:`RESULT`...).
        size: Its size in bytes.
        limit: The limit in bytes.

    Returns:
        The reason.
    """
    return TOO_LARGE % (what, size, limit)


def not_utf8(what: str) -> str:
    """The reason for a text whose bytes are not strict UTF-8 (``"payload is not valid UTF-8"``)."""
    return NOT_UTF8 % (what,)


def corrupt(field: str, shown: str) -> str:
    """The reason for a stored number that is none (``"record is corrupt: due is 'abc'"``).

    Args:
        field: The field's name.
        shown: Its value as the reason shows it (quoted, shortened).

    Returns:
        The reason.
    """
    return CORRUPT % (field, shown)


def decode(what: str, size: int, raw: bytes | None, limit: int | None) -> str:
    """A stored text read as bytes, decoded as strict UTF-8 once it is within its limit.

    The one decoder of the Python-side stores: the size is checked first,
    so a store can pass ``None`` for bytes it left unread because of it.

    Example:
        >>> decode(PAYLOAD, 2, b"{}", 10)
        '{}'

    Args:
        what: What it is (:data:`PAYLOAD`, :data:`TASK_ID`, :data:`RESULT`).
        size: Its size in bytes, as the store measured it.
        raw: Its bytes; None when it was not read (its size is over the
            limit), or read as nothing.
        limit: The most bytes it may have; None for no limit.

    Returns:
        The text.

    Raises:
        Unreadable: It is over the limit, or not strict UTF-8 (a lone
            surrogate's bytes included); the message is the reason.
    """
    if limit is not None and size > limit:
        raise Unreadable(too_large(what, size, limit))
    try:
        return (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(not_utf8(what)) from None
