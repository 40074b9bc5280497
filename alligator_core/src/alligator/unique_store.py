"""Unique tasks: the store capability that takes a key with the push, and the rules every store keeps.

``gator.options(unique_for=SECONDS, unique_key=None, unique_mode="until_finished")``
queues a task only when no other task holds its key in the same queue. The
store writes one record per key: the id of the task that holds it, the mode
it was pushed with, and when the hold ends at the latest
(``until``: the task's due time plus ``unique_for``). A push reads the record
and the holder's state in the same atomic step that pushes, so two producers
racing on one key queue one task, never two.

Whether a record still holds its key is one rule (:func:`holds`), judged at
each push from the holder's state as :meth:`~alligator.backend.Backend.status`
reports it, never written by the ack, release, dead letter or cancel paths.
So a key is released however its task ends: the moment the holder is
acked, dead-lettered, cancelled or dropped, the next push finds the key
free; a task whose worker was killed is still live (it will be delivered
again), so it holds its key until that delivery ends; and no record holds
anything past its ``until``, so a key is never held for ever.

The modes (:data:`MODES`):

* ``until_finished``: held while the holder is waiting, delayed or running.
* ``until_started``: held while the holder is waiting or delayed.
* ``throttle``: held for ``unique_for`` seconds from the holder's due time,
  whatever the holder does: at most one task per window.
* ``debounce``: the task waits ``unique_for`` seconds (unless it is delayed
  otherwise); a push while it still waits replaces it (cancels it and
  queues the new one, in one step), so only the newest call runs.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
from typing import NamedTuple, Protocol, runtime_checkable

from alligator.constants import DELAYED, RUNNING, WAITING

#: Held while the holder is waiting, delayed or running (the default).
UNTIL_FINISHED = "until_finished"
#: Held while the holder is waiting or delayed.
UNTIL_STARTED = "until_started"
#: Held for the window, from the holder's due time, whatever it does.
THROTTLE = "throttle"
#: The newest push replaces a holder that still waits.
DEBOUNCE = "debounce"
#: Every mode, in the order the docs list them.
MODES = (UNTIL_FINISHED, UNTIL_STARTED, THROTTLE, DEBOUNCE)
#: Longest ``unique_for``, in seconds (30 days).
MAX_UNIQUE_FOR = 30 * 24 * 3600.0
#: Longest unique key, in characters.
MAX_UNIQUE_KEY_LENGTH = 200
#: Most held keys a listing returns.
MAX_LISTED_KEYS = 1000

# The holder's states (as status() reports them) in which each mode holds.
_LIVE_STATES = {
    UNTIL_FINISHED: frozenset({WAITING, DELAYED, RUNNING}),
    UNTIL_STARTED: frozenset({WAITING, DELAYED}),
    DEBOUNCE: frozenset({WAITING, DELAYED}),
}


class HeldKey(NamedTuple):
    """A unique key a task holds, as :meth:`UniqueKeys.unique_keys` lists it."""

    #: The key.
    key: str
    #: The id of the task that holds it.
    holder: str
    #: The mode it was pushed with (one of :data:`MODES`).
    mode: str
    #: When the hold ends at the latest (the backend's clock).
    until: float


def holds(mode: str, status: int | None, now: float, until: float) -> bool:
    """Tells whether a key's record still holds the key: the one rule every store applies.

    Example:
        >>> holds("until_finished", RUNNING, now=10.0, until=70.0)
        True
        >>> holds("until_started", RUNNING, now=10.0, until=70.0)
        False

    Args:
        mode: The mode the holder was pushed with; an unknown one (a record
            written by hand) holds nothing.
        status: The holder's state as :meth:`~alligator.backend.Backend.status`
            reports it, or None when it is not live.
        now: The backend's clock.
        until: When the hold ends at the latest; NaN (a corrupt record)
            holds nothing.

    Returns:
        True while the key is held.
    """
    if not now < until:
        return False
    if mode == THROTTLE:
        return True
    return status in _LIVE_STATES.get(mode, ())


def replaces(mode: str, held_mode: str) -> bool:
    """Tells whether a push in ``mode`` replaces the holder of its key, which holds it in ``held_mode``.

    Only a debounced push replaces, and only a debounced holder (which, by
    :func:`holds`, holds only while it waits): the store cancels the holder
    and pushes the new task in the same atomic step. Any other held key
    refuses the push.

    Example:
        >>> replaces("debounce", "debounce"), replaces("debounce", "until_finished")
        (True, False)
    """
    return mode == DEBOUNCE and held_mode == DEBOUNCE


def check_unique_for(value: object) -> float | None:
    """Returns ``unique_for`` as a float, or None for no uniqueness, or says what is wrong.

    Raises:
        TypeError: It is not a number.
        ValueError: It is NaN, infinite, 0 or less, or over 30 days.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"unique_for must be a number of seconds, or None; not {_show(value)}")
    number = float(value) if not isinstance(value, int) or abs(value) < 2**63 else math.inf
    if not (0.0 < number <= MAX_UNIQUE_FOR):
        raise ValueError(
            f"unique_for must be above 0 and at most {MAX_UNIQUE_FOR:.0f} seconds (30 days); "
            f"not {_show(value)}"
        )
    return number


def check_unique_key(value: object) -> str | None:
    """Returns a unique key given by the caller, or None for the default, or says what is wrong.

    Raises:
        ValueError: Not a non-empty string of at most 200 printable characters.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"unique_key must be a non-empty string, or None for the default; not {_show(value)}"
        )
    if len(value) > MAX_UNIQUE_KEY_LENGTH:
        raise ValueError(
            f"unique_key is {len(value)} characters, over the limit of {MAX_UNIQUE_KEY_LENGTH}: "
            "hash a longer key first (hashlib.sha256(...).hexdigest())"
        )
    if not value.isprintable():
        raise ValueError(f"unique_key {_show(value)} has a control or other unprintable character")
    return value


def check_unique_mode(value: object) -> str:
    """Returns a mode name, or says it is unknown and lists the valid ones.

    Raises:
        ValueError: Not one of :data:`MODES`.
    """
    if value not in MODES:
        raise ValueError(f"unique_mode must be one of {', '.join(map(repr, MODES))}; not {_show(value)}")
    return str(value)


def default_key(module: str, function: str, args: object, kwargs: object) -> str:
    """The key of a task that names none: its function and its arguments.

    The arguments are hashed as JSON with sorted keys, so the same call gives
    the same key in every process.

    Example:
        >>> default_key("app.tasks", "send", [1], {})[:20]
        'app.tasks:send:27b6c'

    Args:
        module: The function's module.
        function: The function's name.
        args: Its positional arguments, as JSON data.
        kwargs: Its keyword arguments, as JSON data.
    """
    text = json.dumps([args, kwargs], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    key = f"{module}:{function}:{digest}"
    if len(key) > MAX_UNIQUE_KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@runtime_checkable
class UniqueKeys(Protocol):
    """Takes a task's unique key with its push, in one atomic step, and lists the keys held.

    Without it, a task with ``unique_for`` raises
    :class:`~alligator.capabilities.Unsupported` and nothing is queued:
    uniqueness is never silently ignored. Kit mixin:
    :class:`~alligator.testing.unique.UniqueKeysContract`.
    """

    @abc.abstractmethod
    def push_unique(
        self, queue: str, task_id: str, payload: str, delay: float, key: str, mode: str, window: float
    ) -> tuple[bool, str]:
        """Pushes a task unless another task holds ``key`` in ``queue``, in one atomic step.

        Reads the key's record and judges it by :func:`holds` (the holder's
        state as :meth:`~alligator.backend.Backend.status` would say it, on
        the backend's clock). When it holds, nothing is written (except in
        ``debounce`` mode when the holder is waiting or delayed: it is
        cancelled, as :meth:`~alligator.backend.Backend.cancel` does, and the
        new task pushed). When it does not (no record, a holder that ended, a
        hold past its ``until``, a record that cannot be read), the task is
        pushed as :meth:`~alligator.backend.Backend.push` does and, if it was
        added, the record written: ``(task_id, mode, now + delay + window)``.
        A record that cannot be read never raises: it is replaced.

        Args:
            queue: The queue's name; keys are per queue.
            task_id: The new task's id.
            payload: Its payload.
            delay: Seconds before it is due, as for push.
            key: The unique key, at most 200 printable characters.
            mode: One of :data:`MODES`.
            window: ``unique_for``, above 0.

        Returns:
            ``(True, "")`` when pushed; ``(True, replaced_id)`` when pushed in
            place of a waiting holder (debounce); ``(False, holder_id)`` when
            the key is held; ``(False, "")`` when the key was free but the id
            is taken (as push returns False).
        """

    @abc.abstractmethod
    def unique_keys(self, queue: str, limit: int = 100) -> list[HeldKey]:
        """Lists up to ``limit`` keys of ``queue`` held now (by :func:`holds`), sorted by key.

        Records that no longer hold, or cannot be read, are never listed
        (and may be dropped by this call).
        """
