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

import dataclasses
import functools
import hashlib
import hmac
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from alligator import reasons
from alligator.exceptions import PayloadTooLargeError, ResultSignatureError, TaskRefused
from alligator.text import printable

#: The environment variable listing modules (or ``module:function``) to allow, comma-separated.
ALLOW_ENV = "ALLIGATOR_ALLOW"
#: The environment variable listing secrets, comma-separated; the first signs, all verify.
SECRET_ENV = "ALLIGATOR_SECRET"
#: Shortest signing key accepted, in characters. A short key can be
#: brute-forced from a single signed payload read from the store; 32 random
#: characters (``secrets.token_urlsafe(32)`` makes 43) are far beyond that.
MIN_SECRET_LENGTH = 32
#: Default largest payload, in bytes.
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
#: Marks a signed payload, laid out as ``SIGNED_PREFIX + hexdigest + "." + json``.
SIGNED_PREFIX = "hmac-sha256:"
#: How many bytes a signature adds to a stored result or reason, laid out
#: as ``text + "\n" + SIGNED_PREFIX + hexdigest`` (a newline, the prefix and
#: 64 hex digits).
OUTCOME_SIGNATURE_BYTES = len(SIGNED_PREFIX) + 64 + 1
# The outcomes a stored signature is bound to.
_SUCCEEDED, _FAILED = "succeeded", "failed"


def _split(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item and item.strip())


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


def _is_dunder(part: str) -> bool:
    return len(part) > 4 and part.startswith("__") and part.endswith("__")


#: Dotted ASCII identifiers with no double underscore anywhere: always fine.
_PLAIN_DOTTED = re.compile(r"(?!.*__)[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def unrunnable_reason(module: str, function: str) -> str | None:
    """Says why ``module:function`` is refused whatever the allow list, or None.

    Example:
        >>> unrunnable_reason("myapp.tasks", "send")
        >>> unrunnable_reason("myapp.__main__", "run")[:30]
        'a name with a __dunder__ part '

    Args:
        module: A module's dotted path, as a payload names it.
        function: The name within it (dots walk into classes).

    Returns:
        The reason, or None when the allow list decides.
    """
    if _PLAIN_DOTTED.match(module) and _PLAIN_DOTTED.match(function):
        return None  # the common case, decided without splitting
    parts = [*module.split("."), *function.split(".")]
    if not all(part.isidentifier() for part in parts):
        return "it is not a dotted Python name"
    if any(_is_dunder(part) for part in parts):
        # `pkg.__main__` runs the package's command line and `pkg.__init__`
        # runs the package's code a second time, as a new module: importing
        # either is running code nobody queued.
        return (
            "a name with a __dunder__ part (such as __main__ or __init__) is never run; "
            "name the module itself"
        )
    return None


#: Modules no refusal ever advises allowing: Python's own (``os``,
#: ``builtins``, ``subprocess``...) and Alligator's. Their functions act on the
#: worker's machine; a task that needs one calls it from a function of yours.
_NEVER_ADVISED = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names) | {"alligator"}


def _allow_advice(module: str) -> str:
    top = module.partition(".")[0]
    if top in _NEVER_ADVISED:
        return (
            f"; {printable(module)} is part of Python or of Alligator and should never be allowed: "
            "call it from a task function in a module of your own, and allow that module"
        )
    library = _installed_distributions().get(top)
    if library:
        # A payload names the module: advising to allow a whole installed
        # library (django.core.management, pip...) would hand every function
        # of it to whoever can write to the queue.
        return (
            f"; {printable(module)} belongs to the installed library {printable(', '.join(library))}: "
            "rather than allowing a library, call it from a task function in a module of your own, "
            "and allow that module"
        )
    name = printable(module)
    return (
        f"; allow its module with `latergator --allow {name}`, Gator(allow=[{name!r}]) or {ALLOW_ENV}={name}"
    )


@functools.lru_cache(maxsize=1)
def _installed_distributions() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _check_entries(entries: tuple[str, ...]) -> None:
    for entry in entries:
        module, colon, function = entry.partition(":")
        problem = unrunnable_reason(module, function if colon else module)
        if problem is not None:
            raise ValueError(f"{entry!r} is not a module path or 'module:function' that can run: {problem}")


#: Why a worker with no allowed module refuses to start, and how to allow one.
NOTHING_ALLOWED = (
    "no task modules are allowed, so every task would be dead-lettered: allow the modules that "
    "hold your tasks with `latergator DSN --allow MODULE` (repeatable, e.g. --allow myapp.tasks), "
    f"Worker(gator, allow=['myapp.tasks']), Gator(dsn, allow=[...]) or {ALLOW_ENV}=myapp.tasks,..."
)


@dataclass(frozen=True)
class TaskPolicy:
    """The rules a gator and its workers apply to payloads.

    Args:
        allow: Module prefixes whose functions may run (``"myapp"`` allows
            ``myapp`` and ``myapp.tasks``), or single functions as
            ``"module:function"``. Empty: nothing runs.
        secrets: HMAC keys, each at least :data:`MIN_SECRET_LENGTH`
            characters. The first signs what is enqueued; any of them
            verifies what is run (so keys can be rotated). Empty: payloads are
            neither signed nor checked.
        max_payload_bytes: The largest payload accepted, in UTF-8 bytes.

    Raises:
        ValueError: A key is shorter than :data:`MIN_SECRET_LENGTH` or begins
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
                :data:`MIN_SECRET_LENGTH` characters, or has whitespace at an
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
        # Measured as the worker will measure it, signature included.
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
            first key, :data:`OUTCOME_SIGNATURE_BYTES` longer.
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


def unsigned_text(stored: str) -> str:
    """Returns a stored result or reason without its signature, checking nothing.

    For showing what the store holds (``alligator show``, the dashboard);
    :meth:`TaskPolicy.open_result` is what to trust.

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
        item: A :class:`~alligator.backend.TaskInfo`,
            :class:`~alligator.backend.DeadLetter` or
            :class:`~alligator.backend.Finished`, or None.

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
