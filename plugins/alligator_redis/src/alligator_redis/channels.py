"""Pub/sub on a queue's channels: the ids a ``done`` message announces, and subscriptions
that a message published by hand (bytes that are not UTF-8) cannot fool.
"""

from __future__ import annotations

import time
from typing import Any

import redis

#: How long a subscription may take to be confirmed by the server (seconds).
SUBSCRIBE_DEADLINE = 10.0


def _announced(data: object) -> set[bytes]:
    """The task ids of one ``done`` message: ``"<bytes>:<id>"`` one after the
    other. Whatever does not parse (published by hand) ends the list."""
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
    elif isinstance(data, bytes):
        raw = data
    else:
        return set()
    ids: set[bytes] = set()
    at = 0
    while at < len(raw):
        colon = raw.find(b":", at)
        if colon < 0 or not raw[at:colon].isdigit() or colon - at > 12:
            break
        end = colon + 1 + int(raw[at:colon])
        if end > len(raw):
            break
        ids.add(raw[colon + 1 : end])
        at = end
    return ids


def _confirmed(subscription: Any, channels: list[str], limit: float) -> bool:
    """Subscribes to ``channels`` and reads the server's confirmation of each.

    Returns:
        True once all are confirmed; False when bytes that are not UTF-8,
        published by hand, came in among them (the connection is then not to
        be trusted: the caller starts over).

    Raises:
        redis.TimeoutError: The server did not confirm them by ``limit`` (monotonic).
    """
    subscription.subscribe(*channels)
    confirmed = 0
    while confirmed < len(channels):
        left = limit - time.monotonic()
        if left <= 0:
            raise redis.TimeoutError(f"the server did not confirm {len(channels)} subscriptions")
        try:
            message = subscription.get_message(timeout=left)
        except UnicodeDecodeError:
            return False
        if message is not None and message.get("type") == "subscribe":
            confirmed += 1
    return True


#: What :func:`_next_message` saw: a message, nothing, or bytes published by hand
#: after which the subscription is not to be trusted.
MESSAGE, NOTHING, UNREADABLE_MESSAGE = "message", "nothing", "unreadable"


def _next_message(subscription: Any, wait: float) -> str:
    """Waits up to ``wait`` seconds for one message on a subscription.

    Returns:
        :data:`MESSAGE`, :data:`NOTHING`, or :data:`UNREADABLE_MESSAGE` for
        bytes that are not UTF-8 (published by hand: the caller looks again,
        on a fresh subscription).
    """
    try:
        message = subscription.get_message(timeout=wait)
    except UnicodeDecodeError:
        return UNREADABLE_MESSAGE
    return MESSAGE if message is not None and message.get("type") == "message" else NOTHING
