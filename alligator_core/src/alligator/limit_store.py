"""Rate limits and concurrency per key, kept in the store for every worker: the capability and its rules.

A task queued with ``gator.options(rate_limit="10/s")`` or
``gator.options(concurrency_limit=2, limit_key="customer:7")`` is checked
by the worker that reserved it, just before it runs, against state that
every worker of the store shares (see :mod:`alligator.limiting` for the
worker's side). A backend offers that state by writing the four methods of
:class:`Limiting`; :data:`alligator.capabilities.CAPABILITIES` lists it, and
:class:`~alligator.testing.limiting.LimitContract` is its kit mixin.

Rates are a GCRA (a token bucket kept as one time per key, on the store's
clock): ``count`` takes per ``per`` seconds, all of them at once after a
quiet period, then one per ``per / count``: at most ``count + W * count / per`` in any ``W``
seconds. A take over the limit *books* the next free slot for its holder and
says how long to wait for it; the worker hands the task back with exactly
that delay, and the task's next take finds its booking and goes. Tasks
waiting on a busy key are thus spread over the coming slots, one each,
instead of all coming back together (a backlog of N tasks costs about 2N
store calls, not a busy loop). A booking not used within ``per`` seconds
of its slot (the task was cancelled, or its worker was too busy) is
dropped; a late task then books again.

Concurrency slots are ``holder -> end of lease`` per key, on the store's
clock: a take counts only the holders whose lease has not ended, so a slot
held by a worker that was killed frees itself when its lease ends. The
worker extends the slots of the tasks it runs with their leases, and
releases each when its task ends.

Keys and holders come from payloads, and stored records from whoever can
write to the store: every key is checked here (:func:`check_key`) before a
write, and what a backend reads back is parsed without trusting it (an
unreadable number counts as absent).
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: The longest limit key, in UTF-8 bytes.
MAX_LIMIT_KEY_BYTES = 256
#: The longest holder a store is given, in characters (the core's are 32 hex digits).
MAX_HOLDER_CHARS = 64
#: The most takes a rate may allow per period (beyond that, use a longer period's unit).
MAX_RATE_COUNT = 1_000_000
#: The most tasks of one key a concurrency limit may let run at once.
MAX_CONCURRENCY = 10_000
#: How long a store lists a task refused a concurrency slot as waiting (seconds).
WAITER_SECONDS = 10.0
#: The furthest into the future a stored rate time is believed (a day); a
#: later one (written by hand) is read as now, so a planted record cannot
#: stop a key for ever.
MAX_RATE_HORIZON = 86400.0

#: The units of a rate, in seconds.
RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"\A\s*([0-9]+)\s*/\s*([smh])\s*\Z")
_ACCEPTED = '"N/s", "N/m" or "N/h" with N a whole number from 1 (for example "10/s" or "5000/h")'


@dataclass(frozen=True)
class Rate:
    """A parsed rate: ``count`` takes per ``per`` seconds.

    Example:
        >>> parse_rate("5000/h")
        Rate(count=5000, per=3600.0)
    """

    count: int
    per: float

    def __str__(self) -> str:
        unit = next((u for u, seconds in RATE_UNITS.items() if seconds == self.per), None)
        return f"{self.count}/{unit}" if unit else f"{self.count}/{self.per:g}s"


def parse_rate(text: object, name: str = "rate_limit") -> Rate:
    """Reads a rate written ``"N/s"``, ``"N/m"`` or ``"N/h"``.

    Raises:
        TypeError: It is not a string.
        ValueError: It is not one of the accepted forms, or N is 0 or too large;
            the message names the accepted forms.
    """
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a string such as {_ACCEPTED}; not {text!r}")
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"{name} must be {_ACCEPTED}; not {text!r}")
    count = int(match.group(1))
    if not 1 <= count <= MAX_RATE_COUNT:
        raise ValueError(f"{name} must allow from 1 to {MAX_RATE_COUNT} per unit; not {text!r}")
    return Rate(count, RATE_UNITS[match.group(2)])


def check_concurrency(value: object, name: str = "concurrency_limit") -> int:
    """Returns a concurrency limit as an int from 1 to :data:`MAX_CONCURRENCY`, or says what is wrong.

    Raises:
        TypeError: It is not a whole number (``True`` is not one either).
        ValueError: It is below 1 or over the maximum.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number of tasks from 1; not {value!r}")
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"{name} must be from 1 to {MAX_CONCURRENCY}; not {value!r}")
    return value


def check_key(key: object, name: str = "limit_key") -> str:
    """Returns a limit key if it is a non-empty string of valid text within :data:`MAX_LIMIT_KEY_BYTES`.

    Raises:
        TypeError: It is not a string.
        ValueError: It is empty, not valid text, or too long.
    """
    if not isinstance(key, str):
        raise TypeError(f"{name} must be a string such as 'customer:7'; not {key!r}")
    if not key:
        raise ValueError(f"{name} must be a non-empty string")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{name} {key!r} is not valid text (a lone surrogate)") from None
    if size > MAX_LIMIT_KEY_BYTES:
        raise ValueError(f"{name} is {size} bytes long, over the limit of {MAX_LIMIT_KEY_BYTES}")
    return key


def stored_number(value: object) -> float | None:
    """A number read back from the store, or None when it is not a finite number (a planted record)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class LimitState:
    """One limit key as the store holds it now, for the command and the dashboard.

    Attributes:
        kind: ``"rate"`` or ``"concurrency"``.
        key: The limit key.
        limit: The limit last asked for: ``"20/s"`` for a rate, ``"2"`` for
            a concurrency limit.
        held: For a rate, how many takes of the current period are used;
            for concurrency, how many slots are held now.
        waiting: How many tasks wait on the key: for a rate, those with a
            booked slot still to come; for concurrency, those refused a slot
            in the last :data:`WAITER_SECONDS`.
    """

    kind: str
    key: str
    limit: str
    held: int
    waiting: int


def rate_held(tat: float, now: float, rate: Rate) -> int:
    """How many takes of a GCRA period are used when its time is ``tat`` (at most the count)."""
    interval = rate.per / rate.count
    return max(0, min(rate.count, math.ceil((tat - now) / interval - 1e-9)))


def next_take(tat: float | None, now: float, count: int, per: float) -> tuple[float, float]:
    """One GCRA step, the rule every store applies: ``(new time, wait)``.

    ``tat`` is the key's stored time (None, unreadable or past
    :data:`MAX_RATE_HORIZON`: now). The take is always recorded (the new
    time); ``wait`` is 0.0 when it may go now, else the seconds until the
    slot it booked.
    """
    if tat is None or tat < now or tat > now + MAX_RATE_HORIZON:
        tat = now
    interval = per / count
    new = tat + interval
    allowed_at = new - per
    return new, max(0.0, allowed_at - now)


@dataclass(frozen=True)
class RateTake:
    """What one :meth:`Limiting.take_rate` does, as :func:`take_step` decides it; a store applies it.

    Attributes:
        wait: What ``take_rate`` returns: 0.0 to go now, else the seconds to wait.
        use_booking: Remove the holder's booking (its slot has come).
        tat: The key's new stored time, or None to leave it as it is.
        booking: The slot to book for the holder, or None to book nothing.
    """

    wait: float
    use_booking: bool = False
    tat: float | None = None
    booking: float | None = None


def take_step(booking: float | None, tat: float | None, now: float, count: int, per: float) -> RateTake:
    """The rule of :meth:`Limiting.take_rate`, every store's: what one take does.

    Args:
        booking: The holder's booked slot, once bookings more than ``per``
            seconds past are dropped; None when it has none (or it is unreadable).
        tat: The key's stored time (None, unreadable or absent: see :func:`next_take`).
        now: The store's clock.
        count: Takes per period.
        per: The period, in seconds.

    Example:
        >>> take_step(None, None, now=100.0, count=1, per=1.0)
        RateTake(wait=0.0, use_booking=False, tat=101.0, booking=None)
        >>> take_step(None, 101.0, now=100.0, count=1, per=1.0)
        RateTake(wait=1.0, use_booking=False, tat=102.0, booking=101.0)
    """
    if booking is not None:
        if booking <= now:
            return RateTake(0.0, use_booking=True)
        return RateTake(booking - now)
    new, wait = next_take(tat, now, count, per)
    return RateTake(wait, tat=new, booking=now + wait if wait > 0 else None)


def slot_wait(holder: str, ends: Mapping[str, float | None], limit: int, now: float) -> float:
    """The rule of :meth:`Limiting.acquire_slot`, every store's: 0.0 if ``holder`` holds a slot now.

    Args:
        holder: Who asks.
        ends: The key's holders whose lease has not ended, with its end
            (None when unreadable).
        limit: The most slots held at once.
        now: The store's clock.

    Returns:
        0.0 when ``holder`` holds a slot already or one is free (the store
        then sets its lease); else the seconds until the first held lease
        ends, above 0 (the store lists the holder as waiting).
    """
    if holder in ends or len(ends) < limit:
        return 0.0
    known = [end for end in ends.values() if end is not None]
    return max(min(known, default=now) - now, 1e-6)


@runtime_checkable
class Limiting(Protocol):
    """Keeps rate limits and concurrency slots per key, shared by every worker of the store.

    Without it a task queued with a limit is refused at enqueue (the store
    cannot enforce it), and the command and dashboard show no limits. Kit
    mixin: :class:`~alligator.testing.limiting.LimitContract`. Every step is
    atomic for every client of the store, and every time is the store's
    (:meth:`~alligator.backend.Backend.now`).
    """

    @abc.abstractmethod
    def take_rate(self, key: str, holder: str, count: int, per: float) -> float:
        """Takes one of ``count`` per ``per`` seconds for ``key``, or books the next free slot.

        In one atomic step: bookings of the key whose slot is more than
        ``per`` seconds past are dropped; if ``holder`` has a booking whose
        slot has come, it is used (removed) and this returns 0.0; if its slot
        is still to come, this returns the seconds until it, changing
        nothing. Otherwise the take follows :func:`next_take` on the key's
        stored time: it stores the new time and returns 0.0 (go now), or
        books the slot for ``holder`` and returns the seconds until it.

        Args:
            key: The limit key, checked by :func:`check_key`.
            holder: Who takes (the core's hash of a task's queue and id, or of
                a ``gator.limit`` block), at most :data:`MAX_HOLDER_CHARS`.
            count: Takes per period, from 1 to :data:`MAX_RATE_COUNT`.
            per: The period, in seconds.

        Returns:
            0.0 to go now; else seconds to wait, above 0.
        """

    @abc.abstractmethod
    def acquire_slot(self, key: str, holder: str, limit: int, lease_seconds: float) -> float:
        """Takes one of ``limit`` slots of ``key`` for ``holder``, until ``lease_seconds`` from now.

        In one atomic step: holders whose lease has ended are dropped; a
        holder that holds a slot already keeps it (its lease set anew);
        otherwise it gets one if fewer than ``limit`` are held. A holder
        refused is listed as waiting for :data:`WAITER_SECONDS`.

        Returns:
            0.0 if ``holder`` holds a slot now; else the seconds until the
            first held lease ends (when a slot frees at the latest), above 0.
        """

    @abc.abstractmethod
    def extend_slot(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Sets a held slot's lease to end ``lease_seconds`` from now.

        Returns:
            True if ``holder`` held a slot of ``key`` whose lease had not
            ended; False (changing nothing) otherwise.
        """

    @abc.abstractmethod
    def release_slot(self, key: str, holder: str) -> bool:
        """Gives back ``holder``'s slot of ``key``.

        Returns:
            True if it held one (ended lease or not); False otherwise.
        """

    @abc.abstractmethod
    def limit_states(self) -> list[LimitState]:
        """Lists the keys with live state, sorted by kind then key, changing nothing that matters.

        A rate key is listed while a take of its current period is used or a
        booking waits; a concurrency key while a slot is held (lease not
        ended) or a task waited on it within :data:`WAITER_SECONDS`. A
        record that cannot be read (planted by hand) is skipped.
        """
