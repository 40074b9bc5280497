"""Signing keys, and the signatures of what a worker leaves in the store.

The keys (:data:`SECRET_ENV`, :data:`MIN_SECRET_LENGTH`) are checked here,
whichever way they are given. A return value or a dead letter's reason is
signed bound to its task, queue and outcome, and carries its signature on a
last line of its own: :func:`unsigned_text` and :func:`without_signatures`
take it off to show what the store holds, checking nothing;
:class:`~alligator.security.TaskPolicy` signs and checks. Every public name
is re-exported by :mod:`alligator.security`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import TypeVar

from alligator.text import printable

#: The environment variable listing secrets, comma-separated; the first signs, all verify.
SECRET_ENV = "ALLIGATOR_SECRET"
#: Shortest signing key accepted, in characters. A short key can be
#: brute-forced from a single signed payload read from the store; 32 random
#: characters (``secrets.token_urlsafe(32)`` makes 43) are far beyond that.
MIN_SECRET_LENGTH = 32
#: Marks a signed payload, laid out as ``SIGNED_PREFIX + hexdigest + "." + json``.
SIGNED_PREFIX = "hmac-sha256:"
#: How many bytes a signature adds to a stored result or reason, laid out
#: as ``text + "\n" + SIGNED_PREFIX + hexdigest`` (a newline, the prefix and
#: 64 hex digits).
OUTCOME_SIGNATURE_BYTES = len(SIGNED_PREFIX) + 64 + 1
# The outcomes a stored signature is bound to.
_SUCCEEDED, _FAILED = "succeeded", "failed"
#: Starts the outcome a record a plugin keeps beside a task is signed for
#: (``record:`` and its kind), so no record passes for a result or a reason.
RECORD_OUTCOME_PREFIX = "record:"


def _check_secret(key: object, where: str) -> str:
    """Returns ``key`` if it can sign, or raises saying why it cannot."""
    if not isinstance(key, str):
        raise TypeError(f"{where} must be a string, not a {type(key).__name__}")
    if key.strip() and key != key.strip():
        # An accident (a trailing newline read from a file), and one that
        # would make the same text two different keys in two places.
        raise ValueError(f"{where} begins or ends with whitespace; remove it")
    if len(key) < MIN_SECRET_LENGTH or not key.strip():
        what = f"is {len(key)} characters long" if key.strip() else "is empty"
        raise ValueError(
            f"{where} {what}; a signing key must be at least {MIN_SECRET_LENGTH} characters "
            "(make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
            "or give no secret at all to run without signing"
        )
    return key


def _secrets_from_argument(secret: str | Iterable[str]) -> tuple[str, ...]:
    # A string is one key, whatever it contains: only the environment variable,
    # which can hold nothing but one string, has a separator.
    if isinstance(secret, str):
        return (_check_secret(secret, "secret"),)
    given: object = secret  # typed as declared, but callers may pass anything
    if isinstance(given, (bytes, bytearray)):
        raise TypeError("secret must be a string or a list of strings, not bytes")
    keys = tuple(secret)
    for index, key in enumerate(keys):
        _check_secret(key, f"secret[{index}]")
    return keys


def _secrets_from_environment(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    parts = value.split(",")
    if len(parts) == 1:
        return (_check_secret(value.strip(), SECRET_ENV),)
    # A comma separates keys. Every part must be a whole key, so a comma
    # inside a key either fails here or leaves two long keys: it can never
    # leave a short one that signs.
    return tuple(
        _check_secret(
            part.strip(), f"{SECRET_ENV} key {index} of {len(parts)} (keys are separated by commas)"
        )
        for index, part in enumerate(parts, 1)
    )


def unsigned_text(stored: str) -> str:
    """Returns a stored result or reason without its signature, checking nothing.

    For showing what the store holds (``alligator show``, the dashboard);
    :meth:`TaskPolicy.open_result <alligator.security.TaskPolicy.open_result>` is what to trust.

    Example:
        >>> unsigned_text("[1, 2]\\nhmac-sha256:" + "0" * 64)
        '[1, 2]'
        >>> unsigned_text("[1, 2]")
        '[1, 2]'
    """
    return _split_signed(stored)[1]


#: Any record :func:`without_signatures` takes, and gives back.
StoredRecord = TypeVar("StoredRecord")


def without_signatures(item: StoredRecord) -> StoredRecord:
    """A copy of a stored record (a dataclass) whose ``reason`` and ``result`` lose their signatures.

    For listings and pages that show what the store holds (``Gator.tasks``,
    ``alligator show``, the dashboard): nothing is checked, as in
    :func:`unsigned_text`.

    Args:
        item: A :class:`~alligator.store_values.TaskInfo`,
            :class:`~alligator.store_values.DeadLetter` or
            :class:`~alligator.store_values.Finished`, or None.

    Returns:
        The same kind of record; ``item`` itself when nothing was signed.
    """
    changes = {
        name: unsigned_text(value)
        for name in ("reason", "result")
        if isinstance(value := getattr(item, name, None), str) and _split_signed(value)[0] is not None
    }
    return dataclasses.replace(item, **changes) if changes else item  # type: ignore[type-var]


def _split_signed(stored: str) -> tuple[str | None, str]:
    """The digest of a stored signed text and the text; (None, stored) when not signed."""
    text, newline, last = stored.rpartition("\n")
    if newline and len(last) == OUTCOME_SIGNATURE_BYTES - 1 and last.startswith(SIGNED_PREFIX):
        digest = last[len(SIGNED_PREFIX) :]
        if all(char in "0123456789abcdef" for char in digest):
            return digest, text
    return None, stored


def _outcome_digest(secret: str, outcome: str, queue: str, task_id: str, text: str) -> str:
    # The header is JSON, so no queue name or id can shift its fields, and it
    # starts with "[" where every payload starts with "{": a payload's
    # signature never passes for an outcome's, nor the reverse.
    header = json.dumps(["alligator-outcome", outcome, queue, task_id])
    message = f"{header}\n{text}".encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _refusal(outcome: str, queue: str, task_id: str, why: str) -> str:
    where = f"task {printable(task_id)} on queue {printable(queue)!r}"
    if outcome.startswith(RECORD_OUTCOME_PREFIX):
        kind = outcome[len(RECORD_OUTCOME_PREFIX) :]
        return (
            f"the {printable(kind)} record of {where} failed its signature check: {why}. It is not "
            "trusted: a writer to the store may have forged it, or a worker without this gator's secret "
            "(ALLIGATOR_SECRET) wrote it; give every worker the secret"
        )
    if outcome == _SUCCEEDED:
        return (
            f"the stored result of {where} failed its signature check: {why}. It is not handed out: "
            "a writer to the store may have forged it, or a worker without this gator's secret "
            "(ALLIGATOR_SECRET) ran the task; give every worker the secret"
        )
    return (
        f"{where} is a dead letter whose reason failed its signature check: {why}. The reason is "
        "not handed out: a writer to the store may have forged it, a worker without this gator's "
        "secret (ALLIGATOR_SECRET) dead-lettered the task, or the store did, for a record it could "
        "not deliver; see the dead letter with `alligator show`"
    )
