"""How long a failed task waits before its next try."""

from __future__ import annotations

import random

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
    ``max_delay``. With ``jitter`` it is drawn uniformly from the upper half of
    that ("equal jitter"), so tasks that failed together, because a mail
    server went down, do not all come back in the same instant.

    Example:
        >>> backoff_delay(3, delay=1.0, backoff=2.0, jitter=False)
        4.0

    Args:
        retry: 1 for the first retry, 2 for the second...
        delay: Seconds before the first retry.
        backoff: Growth factor per retry (1 keeps the wait constant).
        max_delay: The cap.
        jitter: Whether to randomize within the upper half.

    Returns:
        Seconds, never negative.
    """
    wait = min(max_delay, delay * backoff ** max(retry - 1, 0))
    wait = max(wait, 0.0)
    if jitter:
        return random.uniform(wait / 2, wait)
    return wait
