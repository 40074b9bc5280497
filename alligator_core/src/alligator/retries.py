"""How long a failed task waits before its next try."""

from __future__ import annotations

import random

from alligator.limits import MAX_RETRY_DELAY

#: Seconds before the first retry.
DEFAULT_RETRY_DELAY = 1.0
#: Each further retry waits this many times longer than the one before.
DEFAULT_RETRY_BACKOFF = 2.0
#: No retry waits longer than this.
DEFAULT_RETRY_MAX_DELAY = 600.0


def backoff_delay(
    retry: int,
    delay: float = DEFAULT_RETRY_DELAY,
    backoff: float = DEFAULT_RETRY_BACKOFF,
    max_delay: float = DEFAULT_RETRY_MAX_DELAY,
    jitter: bool = True,
) -> float:
    """Returns the seconds to wait before retry number ``retry``.

    The wait grows geometrically, ``delay * backoff ** (retry - 1)``, capped at
    ``max_delay`` and never above ``alligator.limits.MAX_RETRY_DELAY``.
    With ``jitter`` it is drawn uniformly from the upper half of that ("equal
    jitter"), so tasks that failed together, because a mail server went
    down, do not all come back in the same instant.

    It is total: any retry number and any numbers at all (NaN, infinities,
    a growth that would overflow a float) give a wait between 0 and the cap.

    Example:
        >>> backoff_delay(3, delay=1.0, backoff=2.0, jitter=False)
        4.0
        >>> backoff_delay(5000, delay=1.0, backoff=2.0, max_delay=600.0, jitter=False)
        600.0

    Args:
        retry: 1 for the first retry, 2 for the second...
        delay: Seconds before the first retry.
        backoff: Growth factor per retry (1 keeps the wait constant).
        max_delay: The cap.
        jitter: Whether to randomize within the upper half.

    Returns:
        Seconds, from 0 to ``min(max_delay, MAX_RETRY_DELAY)``.
    """
    cap = _within(max_delay, MAX_RETRY_DELAY)
    first = _within(delay, cap)
    steps = max(retry - 1, 0)
    try:
        wait = first * backoff**steps if first > 0 and steps else first
    except OverflowError:  # 2.0 ** 1025 and beyond
        wait = cap
    # `not wait <= cap` also catches NaN (a NaN growth factor).
    wait = cap if not wait <= cap else max(wait, 0.0)
    if jitter:
        return random.uniform(wait / 2, wait)
    return wait


def _within(value: float, cap: float) -> float:
    """``value`` clamped to ``[0, cap]``; NaN counts as the cap."""
    if not value <= cap:
        return cap
    return max(value, 0.0)
