"""What a worker agrees to run: allowed modules, signed payloads, size limits.

A queue is an input like any other: whoever can write to it chooses which
function a worker imports and calls. So a worker runs a task, or calls a hook,
only when its module is *allowed*, and checks that before importing anything.
With a secret configured, producers sign payloads (HMAC-SHA256) and workers
refuse unsigned or tampered ones; workers sign what they leave in the store
(a return value, a dead letter's reason), bound to the task, its queue and
the outcome, and ``Gator.result`` refuses what is not so signed. Payloads
over a size limit are refused at enqueue, and dead-lettered unread if one is
found in a queue.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from alligator import reasons

# The rules of names that may run, and the signing keys and stored
# signatures, are modules of their own; every public name stays importable
# from here (``from alligator.security import SIGNED_PREFIX``).
from alligator.allowing import ALLOW_ENV as ALLOW_ENV
from alligator.allowing import NOTHING_ALLOWED as NOTHING_ALLOWED
from alligator.allowing import _allow_advice, _check_entries
from alligator.allowing import unrunnable_reason as unrunnable_reason
from alligator.exceptions import PayloadTooLargeError, ResultSignatureError, TaskRefused
from alligator.signing import (
    _FAILED,
    _SUCCEEDED,
    _check_secret,
    _outcome_digest,
    _refusal,
    _secrets_from_argument,
    _secrets_from_environment,
    _split_signed,
)
from alligator.signing import MIN_SECRET_LENGTH as MIN_SECRET_LENGTH
from alligator.signing import OUTCOME_SIGNATURE_BYTES as OUTCOME_SIGNATURE_BYTES
from alligator.signing import RECORD_OUTCOME_PREFIX as RECORD_OUTCOME_PREFIX
from alligator.signing import SECRET_ENV as SECRET_ENV
from alligator.signing import SIGNED_PREFIX as SIGNED_PREFIX
from alligator.signing import StoredRecord as StoredRecord
from alligator.signing import unsigned_text as unsigned_text
from alligator.signing import without_signatures as without_signatures
from alligator.text import printable

#: Default largest payload, in bytes.
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024


def _split(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item and item.strip())


@dataclass(frozen=True)
class TaskPolicy:
    """The rules a gator and its workers apply to payloads.

    Args:
        allow: Module prefixes whose functions may run (``"myapp"`` allows
            ``myapp`` and ``myapp.tasks``), or single functions as
            ``"module:function"``. Empty: nothing runs.
        secrets: HMAC keys, each at least :data:`~alligator.signing.MIN_SECRET_LENGTH`
            characters. The first signs what is enqueued; any of them
            verifies what is run (so keys can be rotated). Empty: payloads are
            neither signed nor checked.
        max_payload_bytes: The largest payload accepted, in UTF-8 bytes.

    Raises:
        ValueError: A key is shorter than :data:`~alligator.signing.MIN_SECRET_LENGTH` or begins
            or ends with whitespace.
    """

    allow: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES

    def __post_init__(self) -> None:
        # Every way of making a policy passes here, so no path can sign with
        # an empty or short key.
        if not isinstance(self.secrets, tuple):
            raise TypeError("secrets must be a tuple of strings")
        for index, key in enumerate(self.secrets):
            _check_secret(key, f"secrets[{index}]")

    @property
    def signing(self) -> bool:
        """Whether payloads are signed when queued and must be signed to run."""
        return bool(self.secrets)

    @classmethod
    def build(
        cls,
        allow: str | Iterable[str] | None = None,
        secret: str | Iterable[str] | None = None,
        max_payload_bytes: int | None = None,
        environ: dict[str, str] | None = None,
    ) -> TaskPolicy:
        """Builds a policy from arguments plus the environment.

        ``ALLIGATOR_ALLOW`` adds to ``allow``; ``ALLIGATOR_SECRET`` is used when
        no ``secret`` is given.

        Example:
            >>> key = "k" * 32
            >>> TaskPolicy.build(secret=key, environ={}).signing
            True
            >>> TaskPolicy.build(secret=[], environ={"ALLIGATOR_SECRET": key}).signing
            False

        Args:
            allow: Module prefixes or ``module:function`` entries, as a list
                or a comma-separated string.
            secret: One key (a string is always one key, commas and all), or
                a list of keys to rotate them: the first signs, all verify.
                ``[]`` turns signing off even when ``ALLIGATOR_SECRET`` is
                set.
            max_payload_bytes: The largest payload, in UTF-8 bytes.
            environ: Where to read the variables (default: ``os.environ``).

        Returns:
            The policy.

        Raises:
            ValueError: An allow entry is not a module path; a key, from
                ``secret`` or ``ALLIGATOR_SECRET``, is empty, shorter than
                :data:`~alligator.signing.MIN_SECRET_LENGTH` characters, or has whitespace at an
                end (an empty ``ALLIGATOR_SECRET`` is an error, not "no
                signing": unset it for that).
        """
        env = os.environ if environ is None else environ
        allowed = _split(allow) + _split(env.get(ALLOW_ENV))
        secrets = (
            _secrets_from_argument(secret)
            if secret is not None
            else _secrets_from_environment(env.get(SECRET_ENV))
        )
        limit = DEFAULT_MAX_PAYLOAD_BYTES if max_payload_bytes is None else int(max_payload_bytes)
        if limit <= 0:
            raise ValueError(f"max_payload_bytes must be positive, not {limit}")
        _check_entries(allowed)
        return cls(tuple(dict.fromkeys(allowed)), secrets, limit)

    def with_allowed(self, allow: str | Iterable[str] | None) -> TaskPolicy:
        """Returns a copy that also allows these modules.

        Raises:
            ValueError: An entry is not a module path or ``module:function``.
        """
        extra = _split(allow)
        _check_entries(extra)
        return TaskPolicy(tuple(dict.fromkeys(self.allow + extra)), self.secrets, self.max_payload_bytes)

    # -- allowing --------------------------------------------------------

    def is_allowed(self, module: str, function: str) -> bool:
        """Tells whether ``module:function`` may run, without importing anything.

        Never for a name that is not dotted Python identifiers, or that has a
        ``__dunder__`` part (``pkg.__main__``, ``pkg.__init__``), whatever the
        allow list says.
        """
        if unrunnable_reason(module, function) is not None:
            return False
        for entry in self.allow:
            if ":" in entry:
                if entry == f"{module}:{function}":
                    return True
            elif module == entry or module.startswith(entry + "."):
                return True
        return False

    def check_allowed(self, module: str, function: str, what: str = "task") -> None:
        """Raises :class:`~alligator.exceptions.TaskRefused` unless ``module:function`` may run.

        The message says how to allow it, except for a module that should
        never be allowed (Python's standard library, builtins, Alligator)
        and a name that can never run (see :meth:`is_allowed`). Names are
        escaped (``alligator.text.printable``): they may come from a
        hostile payload and end up in a log line.
        """
        if self.is_allowed(module, function):
            return
        name = printable(f"{module}:{function}")
        problem = unrunnable_reason(module, function)
        if problem is not None:
            raise TaskRefused(f"{what} {name} is refused: {problem}")
        hint = "no modules are allowed yet" if not self.allow else f"allowed: {', '.join(self.allow)}"
        raise TaskRefused(f"{what} {name} is not allowed ({hint}){_allow_advice(module)}")

    def check_task(self, module: str, function: str, hooks: Iterable[tuple[str, str]] = ()) -> None:
        """Raises :class:`~alligator.exceptions.TaskRefused` unless a task's function and
        every ``(module, function)`` hook it names may run."""
        self.check_allowed(module, function)
        for hook_module, hook_name in hooks:
            self.check_allowed(hook_module, hook_name, "hook")

    def check_defined_in_allowed(
        self, func: Callable[..., Any], module: str, name: str, what: str = "task"
    ) -> None:
        """Raises :class:`~alligator.exceptions.TaskRefused` unless what a name led to is allowed too.

        The function must be defined in the module it was named by, or in
        another allowed module: a name such as ``mytasks:logging.os.system``
        is allowed by its module but leads to ``os.system``.
        """
        defined_in = getattr(func, "__module__", None)
        if defined_in == module or (isinstance(defined_in, str) and self.is_allowed(defined_in, name)):
            return
        raise TaskRefused(
            f"{what} {printable(f'{module}:{name}')} leads to a function of module "
            f"{printable(repr(defined_in))}, which is not allowed"
        )

    # -- signing ---------------------------------------------------------

    def _size(self, payload: str | bytes) -> int:
        # A character is at most 4 UTF-8 bytes, so most payloads are known to
        # fit without being encoded; only those that might not are measured.
        if isinstance(payload, bytes) or len(payload) * 4 <= self.max_payload_bytes:
            return len(payload)
        return len(payload.encode("utf-8", "replace"))

    def _digest(self, secret: str, body: str) -> str:
        return hmac.new(secret.encode("utf-8"), body.encode("utf-8"), hashlib.sha256).hexdigest()

    def seal(self, body: str) -> str:
        """Checks a payload's size and signs it when a secret is configured.

        Raises:
            PayloadTooLargeError: It is over ``max_payload_bytes``.
        """
        if self.secrets:
            body = f"{SIGNED_PREFIX}{self._digest(self.secrets[0], body)}.{body}"
        # Measured as the worker will measure it, signature included (a
        # payload of at most a quarter of the limit in characters fits, whatever they are).
        if len(body) * 4 <= self.max_payload_bytes:
            return body
        size = self._size(body)
        if size > self.max_payload_bytes:
            raise PayloadTooLargeError(
                reasons.too_large("the task's payload", size, self.max_payload_bytes)
                + "; pass ids and fetch the data in the task instead"
            )
        return body

    def open(self, payload: str | bytes) -> str:
        """Returns the JSON body of a payload read from a queue, once it passes.

        Raises:
            TaskRefused: Over the size limit (it is not parsed), unsigned or
                tampered while secrets are configured, or not text.
        """
        size = self._size(payload)
        if size > self.max_payload_bytes:
            raise TaskRefused(reasons.too_large(reasons.PAYLOAD, size, self.max_payload_bytes))
        if isinstance(payload, bytes):
            try:
                payload = payload.decode("utf-8")
            except UnicodeDecodeError as err:
                raise TaskRefused(f"payload is not UTF-8: {err}") from err
        try:
            return self._verified(payload)
        except UnicodeError as err:
            # Lone surrogates and the like: not text that HMAC or JSON can take.
            raise TaskRefused(f"payload is not valid Unicode text: {err}") from err

    def _verified(self, payload: str) -> str:
        if not payload.startswith(SIGNED_PREFIX):
            if self.secrets:
                raise TaskRefused("payload is not signed, and this worker requires signatures")
            return payload
        digest, dot, body = payload[len(SIGNED_PREFIX) :].partition(".")
        if not self.secrets:
            # Signed by a producer that has a secret this worker lacks: the
            # signature cannot be checked, but the body is a plain payload.
            return body if dot else payload
        if not dot or not any(
            hmac.compare_digest(digest.encode("ascii", "replace"), self._digest(s, body).encode("ascii"))
            for s in self.secrets
        ):
            raise TaskRefused("payload signature does not match: tampered, or signed with an unknown secret")
        return body

    # -- signing what a task left ----------------------------------------
    #
    # A result or a dead letter's reason is written by a worker and read by
    # whoever asks for it, through a store anyone with access can write. Its
    # signature covers the text, the task id, the queue and the outcome, so
    # one task's signed result cannot be planted as another's, nor a failure
    # reason passed off as a return value. The signature follows the text on
    # a line of its own, so what reads a reason from its start (a log, a
    # check for "refused:") reads it as it was.

    def seal_result(self, queue: str, task_id: str, result: str) -> str:
        """Signs a task's return value (JSON text) for the store, when a secret is configured.

        Args:
            queue: The queue the task was delivered from.
            task_id: The task's id.
            result: The return value as JSON text.

        Returns:
            ``result`` unchanged without a secret; else it signed with the
            first key, :data:`~alligator.signing.OUTCOME_SIGNATURE_BYTES` longer.
        """
        return self._seal_outcome(_SUCCEEDED, queue, task_id, result)

    def seal_reason(self, queue: str, task_id: str, reason: str) -> str:
        """Signs a dead letter's reason for the store, when a secret is configured.

        A store hands a reason back cut to ``max_payload_bytes``, so a signed
        reason is first cut (keeping its end, where a traceback names the
        failing line) to fit there with its signature.

        Args:
            queue: The queue the task was delivered from.
            task_id: The task's id.
            reason: Why the task failed, as :func:`alligator.text.storable` made it.

        Returns:
            ``reason`` unchanged without a secret; else it signed.
        """
        if not self.secrets:
            return reason
        room = max(self.max_payload_bytes - OUTCOME_SIGNATURE_BYTES, 16)
        encoded = reason.encode("utf-8", "backslashreplace")
        if len(encoded) > room:
            reason = "...\n" + encoded[-(room - 4) :].decode("utf-8", "ignore")
        else:
            reason = encoded.decode("utf-8")
        return self._seal_outcome(_FAILED, queue, task_id, reason)

    def open_result(self, queue: str, task_id: str, stored: str) -> str:
        """Returns a stored return value's JSON text once its signature is checked.

        Without a secret nothing is checked: a signed value is handed out
        without its signature, as a worker without a secret runs signed
        payloads.

        Args:
            queue: The queue asked about.
            task_id: The task asked about.
            stored: The text the store holds.

        Raises:
            ResultSignatureError: A secret is configured, and the text is
                unsigned, or signed for another task, queue or outcome, or
                with no key of this policy.
        """
        return self._open_outcome(_SUCCEEDED, queue, task_id, stored)

    def open_reason(self, queue: str, task_id: str, stored: str) -> str:
        """Returns a dead letter's stored reason once its signature is checked.

        As :meth:`open_result`, for the reason of a task that failed.

        Raises:
            ResultSignatureError: A secret is configured, and the reason is
                not signed by a worker holding one of its keys for this task,
                queue and outcome.
        """
        return self._open_outcome(_FAILED, queue, task_id, stored)

    def seal_record(self, kind: str, queue: str, task_id: str, text: str) -> str:
        """Signs a record a plugin keeps beside a task (Django's run records), as results are signed.

        The signature covers ``kind``, the queue, the task id and the text,
        so a record cannot pass for a result, a reason, another kind of
        record, or another task's.

        Args:
            kind: What the record is, e.g. ``"django-run"``.
            queue: The task's queue.
            task_id: The task's id.
            text: The record.

        Returns:
            ``text`` unchanged without a secret; else it signed with the first key.
        """
        return self._seal_outcome(RECORD_OUTCOME_PREFIX + kind, queue, task_id, text)

    def open_record(self, kind: str, queue: str, task_id: str, stored: str) -> str:
        """Returns a record :meth:`seal_record` signed, once its signature is checked.

        Without a secret nothing is checked (a signed record is handed out
        without its signature).

        Raises:
            ResultSignatureError: A secret is configured, and the record is
                unsigned, or signed for another kind, task or queue, or with
                no key of this policy: treat it as forged.
        """
        return self._open_outcome(RECORD_OUTCOME_PREFIX + kind, queue, task_id, stored)

    def _seal_outcome(self, outcome: str, queue: str, task_id: str, text: str) -> str:
        if not self.secrets:
            return text
        return f"{text}\n{SIGNED_PREFIX}{_outcome_digest(self.secrets[0], outcome, queue, task_id, text)}"

    def _open_outcome(self, outcome: str, queue: str, task_id: str, stored: str) -> str:
        digest, text = _split_signed(stored)
        if not self.secrets:
            return text
        if digest is None:
            why = "it is not signed, and this gator requires signatures"
        elif any(
            hmac.compare_digest(digest, _outcome_digest(key, outcome, queue, task_id, text))
            for key in self.secrets
        ):
            return text
        else:
            why = (
                "its signature does not match: it was signed for another task, queue or outcome, "
                "tampered with, or signed with an unknown secret"
            )
        raise ResultSignatureError(_refusal(outcome, queue, task_id, why))
