"""Pausing a queue or a function: the names, their checks, and a worker's view of them.

A pause is a ``(kind, name)`` pair kept in the store by a backend with
:class:`~alligator.capabilities.Pausing`: ``("queue", "emails")``
or ``("function", "myapp.tasks:send_email")``. Workers read the whole set at
most about once a second (:class:`PauseWatch`), one store call however many
queues or tasks they handle, and then:

* reserve nothing from a paused queue: its tasks stay waiting, in their
  place in line, untouched;
* hand a task of a paused function back unstarted (it is not an attempt,
  never a failure, never a dead letter), due again after
  :data:`SET_ASIDE_SECONDS`, so a paused function in a busy queue costs one
  reservation and one release per task every few seconds, never a busy loop.

Names come from whoever can write to the store, so every name is checked
when it is written (:func:`check_target`) and again when it is read back
(:func:`readable`): a hostile record is skipped, never handed on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alligator import capabilities, reasons
from alligator.text import printable

if TYPE_CHECKING:
    from alligator.backend import Backend

log = logging.getLogger("alligator.worker")

#: What can be paused.
PAUSE_KINDS = ("queue", "function")
#: The longest name of a paused queue or function, in UTF-8 bytes.
MAX_PAUSE_NAME_BYTES = 256
#: The most pauses a store keeps at once, queues and functions together (the
#: default of :attr:`Backend.max_pauses <alligator.backend.Backend.max_pauses>`).
MAX_PAUSES = 1000
#: A worker reads the store's pauses at most this often (seconds).
REFRESH_SECONDS = 1.0
#: A reserved task of a paused function is handed back due this many seconds
#: later: how soon a resumed function's tasks run again, at the latest.
SET_ASIDE_SECONDS = 5.0


def _function_shaped(name: str) -> bool:
    """``module.path:name.attr``: dotted identifiers on both sides of one colon."""
    module, colon, attr = name.partition(":")
    if not colon:
        return False
    return all(part.isidentifier() for part in module.split(".")) and all(
        part.isidentifier() for part in attr.split(".")
    )


def _problem(kind: object, name: object) -> str | None:
    if kind not in PAUSE_KINDS:
        return f"what to pause must be one of {', '.join(PAUSE_KINDS)}, not {printable(repr(kind), 60)}"
    if not isinstance(name, str) or not name:
        return f"the {kind} to pause must be named by a non-empty string, not {printable(repr(name), 60)}"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return f"the {kind} name {printable(name, 60)!r} is not valid text (a lone surrogate)"
    if size > MAX_PAUSE_NAME_BYTES:
        return reasons.too_large(f"the {kind} name", size, MAX_PAUSE_NAME_BYTES)
    if kind == "function" and not _function_shaped(name):
        return (
            f"a function to pause is named 'module:name' (like 'myapp.tasks:send_email'), "
            f"not {printable(name, 80)!r}"
        )
    return None


def check_target(kind: str, name: str) -> None:
    """Refuses a pause target a store must not keep.

    Example:
        >>> check_target("function", "myapp.tasks:send_email")
        >>> check_target("queue", "")
        Traceback (most recent call last):
        ...
        ValueError: the queue to pause must be named by a non-empty string, not ''

    Args:
        kind: ``"queue"`` or ``"function"``.
        name: The queue's name, or the function as ``module:name``.

    Raises:
        ValueError: An unknown kind, an empty or non-string name, a name over
            :data:`MAX_PAUSE_NAME_BYTES` or not valid UTF-8, or a function not
            written ``module:name``.
    """
    problem = _problem(kind, name)
    if problem is not None:
        raise ValueError(problem)


def readable(kind: object, name: object) -> bool:
    """Whether a pause read back from the store is one :func:`check_target` would accept."""
    return _problem(kind, name) is None


def listed(entries: Iterable[tuple[object, object]], most: int = MAX_PAUSES) -> list[tuple[str, str]]:
    """The readable entries, sorted by kind then name, at most ``most`` of them.

    A backend's :meth:`~alligator.capabilities.Pausing.paused` passes what it
    decoded through this, so a hostile record is dropped the same way in
    every store.
    """
    found = {(str(kind), str(name)) for kind, name in entries if readable(kind, name)}
    return sorted(found)[: max(most, 0)]


def target(queue: str | None, function: Callable[..., Any] | str | None) -> tuple[str, str]:
    """Turns ``pause(queue=..., function=...)`` arguments into one ``(kind, name)``.

    Args:
        queue: A queue's name.
        function: A function (a callable, or ``"module:name"``; a dotted
            ``"module.name"`` is read as ``"module:name"``).

    Returns:
        The ``(kind, name)`` pair.

    Raises:
        ValueError: Both or neither given, or the name is refused by
            :func:`check_target`.
        NotImportableError: A callable that a worker could not import back
            by name (so no task of it can be queued either).
    """
    if (queue is None) == (function is None):
        raise ValueError("give queue= or function= (one of them); a paused function is paused in every queue")
    if queue is not None:
        check_target("queue", queue)
        return "queue", queue
    if callable(function):
        from alligator.utils import callable_path

        module, name = callable_path(function, "the function to pause")
        pair = ("function", f"{module}:{name}")
    elif isinstance(function, str) and ":" not in function and "." in function:
        module, _, name = function.rpartition(".")
        pair = ("function", f"{module}:{name}")
    else:
        pair = ("function", function)  # type: ignore[assignment]
    check_target(*pair)
    return pair


@dataclass(frozen=True)
class Paused:
    """The pauses a worker acts on.

    Attributes:
        queues: Names of the paused queues.
        functions: The paused functions, as ``module:name``.
    """

    queues: frozenset[str] = frozenset()
    functions: frozenset[str] = frozenset()

    @classmethod
    def of(cls, entries: Iterable[tuple[str, str]]) -> Paused:
        """Builds it from :meth:`~alligator.capabilities.Pausing.paused`'s list."""
        pairs = list(entries)
        return cls(
            frozenset(name for kind, name in pairs if kind == "queue"),
            frozenset(name for kind, name in pairs if kind == "function"),
        )


class PauseWatch:
    """A worker's cached view of the store's pauses: at most one store call a second.

    Every thread of a worker asks :meth:`current` before it reserves and
    before it starts a task; only the first ask after
    :data:`REFRESH_SECONDS` reads the store (one :meth:`~alligator.capabilities.Pausing.paused`
    call), the others get the cached set. A store without
    :class:`~alligator.capabilities.Pausing` is never asked. When
    the read fails, the last known set stays in force and the read is tried
    again a second later.

    Args:
        backend: The worker's backend.
        refresh: Seconds between reads.
    """

    def __init__(self, backend: Backend, refresh: float = REFRESH_SECONDS) -> None:
        self.backend = backend
        self.refresh = refresh
        self._enabled = capabilities.supports(backend, capabilities.Pausing)
        self._lock = threading.Lock()
        self._paused = Paused()
        self._read_at: float | None = None
        self._failing = False

    def current(self) -> Paused:
        """The pauses in force, read from the store at most once per ``refresh`` seconds."""
        if not self._enabled:
            return self._paused
        read_at = self._read_at
        if read_at is not None and time.monotonic() - read_at < self.refresh:
            return self._paused
        # One thread reads; the others go on with the last known set rather
        # than wait on a slow store.
        if not self._lock.acquire(blocking=False):
            return self._paused
        try:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self.refresh:
                return self._paused
            self._read_at = now
            try:
                fresh = Paused.of(capabilities.pausing(self.backend).paused())
            except NotImplementedError:
                self._enabled = False
                return self._paused
            except Exception as err:
                if not self._failing:
                    log.warning(
                        "could not read the paused queues and functions (keeping the last known): %s", err
                    )
                self._failing = True
                return self._paused
            self._failing = False
            self._announce(self._paused, fresh)
            self._paused = fresh
            return fresh
        finally:
            self._lock.release()

    @staticmethod
    def _announce(old: Paused, new: Paused) -> None:
        for kind, before, after in (
            ("queue", old.queues, new.queues),
            ("function", old.functions, new.functions),
        ):
            for name in sorted(after - before):
                log.info("%s %r is paused: its tasks are left waiting", kind, printable(name))
            for name in sorted(before - after):
                log.info("%s %r is resumed", kind, printable(name))
