"""What a worker agrees to run: allowed modules, signed payloads, size limits.

A queue is an input like any other: whoever can write to it chooses which
function a worker imports and calls. So a worker runs a task, or calls a hook,
only when its module is *allowed*, and checks that before importing anything.
With a secret configured, producers sign payloads (HMAC-SHA256) and workers
refuse unsigned or tampered ones. Payloads over a size limit are refused at
enqueue, and dead-lettered unread if one is found in a queue.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from alligator.exceptions import PayloadTooLargeError, TaskRefused

#: The environment variable listing modules (or ``module:function``) to allow, comma-separated.
ALLOW_ENV = "ALLIGATOR_ALLOW"
#: The environment variable listing secrets, comma-separated; the first signs, all verify.
SECRET_ENV = "ALLIGATOR_SECRET"
#: Default largest payload, in bytes.
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
#: Marks a signed payload, laid out as ``SIGNED_PREFIX + hexdigest + "." + json``.
SIGNED_PREFIX = "hmac-sha256:"


def _split(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item and item.strip())


def _check_entries(entries: tuple[str, ...]) -> None:
    for entry in entries:
        if not all(part.isidentifier() for part in entry.replace(":", ".").split(".")):
            raise ValueError(f"{entry!r} is not a module path or 'module:function'")


@dataclass(frozen=True)
class TaskPolicy:
    """The rules a gator and its workers apply to payloads.

    Args:
        allow: Module prefixes whose functions may run (``"myapp"`` allows
            ``myapp`` and ``myapp.tasks``), or single functions as
            ``"module:function"``. Empty: nothing runs.
        secrets: HMAC keys. The first signs what is enqueued; any of them
            verifies what is run (so keys can be rotated). Empty: payloads are
            neither signed nor checked.
        max_payload_bytes: The largest payload accepted, in UTF-8 bytes.
    """

    allow: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES

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
        """
        env = os.environ if environ is None else environ
        allowed = _split(allow) + _split(env.get(ALLOW_ENV))
        secrets = _split(secret) if secret is not None else _split(env.get(SECRET_ENV))
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
        """Tells whether ``module:function`` may run, without importing anything."""
        for entry in self.allow:
            if ":" in entry:
                if entry == f"{module}:{function}":
                    return True
            elif module == entry or module.startswith(entry + "."):
                return True
        return False

    def check_allowed(self, module: str, function: str, what: str = "task") -> None:
        """Raises :class:`~alligator.exceptions.TaskRefused` unless ``module:function`` may run."""
        if not self.is_allowed(module, function):
            hint = "no modules are allowed yet" if not self.allow else f"allowed: {', '.join(self.allow)}"
            raise TaskRefused(
                f"{what} {module}:{function} is not allowed ({hint}); allow its module with "
                f"`latergator --allow {module}`, Gator(allow=[{module!r}]) or {ALLOW_ENV}={module}"
            )

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
            f"{what} {module}:{name} leads to a function of module {defined_in!r}, which is not allowed"
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
                f"the task's payload is {size} bytes, over the limit of {self.max_payload_bytes}; "
                "pass ids and fetch the data in the task instead"
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
            raise TaskRefused(f"payload is {size} bytes, over the limit of {self.max_payload_bytes}")
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
