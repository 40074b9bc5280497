r"""The Redis key layout of the store: every key name the backend and its scripts use.

Every key of a queue carries the queue's hash tag, so every script (which
takes only one queue's keys, in ``KEYS``) runs atomically on one node, even
on Redis Cluster. The Python side builds names only here; the scripts get
theirs in ``KEYS``, in the order each script declares (see
:mod:`alligator_redis.scripts`).

Key layout of a queue ``Q`` (``{T}`` is the hash tag: ``T`` is ``Q`` itself,
or ``%`` and the hex of its UTF-8 bytes when ``Q`` is empty, contains a brace
or starts with ``%``; see :func:`hash_tag`)::

    alligator:{T}:pending     zset   "<seq:16 digits>:<id>" -> due time (waiting and delayed,
                                     priority 0)
    alligator:{T}:ranked_pending zset "<seq:16 digits>:<id>" -> due time (waiting and delayed,
                                     a priority other than 0, not yet ranked)
    alligator:{T}:ranked      zset   "<seq:16 digits>:<id>" -> 100 - priority (due, ranked)
    alligator:{T}:priorities  hash   id -> priority, when not 0 (waiting, delayed or reserved)
    alligator:{T}:ranked_due  hash   id -> when a ranked task came due (for listing)
    alligator:{T}:members     hash   id -> its member in pending, ranked_pending or ranked
    alligator:{T}:payloads    hash   id -> payload (waiting, delayed or reserved)
    alligator:{T}:attempts    hash   id -> deliveries so far (waiting, delayed or reserved)
    alligator:{T}:failures    hash   id -> deliveries released as failed (absent: 0)
    alligator:{T}:receipts    hash   id -> receipt of the current delivery (reserved)
    alligator:{T}:leases      zset   id -> lease deadline (reserved)
    alligator:{T}:seq         string counter: FIFO tie-breaks, receipts, dead-letter order
    alligator:{T}:succeeded   zset   id -> acked at (trimmed after status_ttl; SUCCEEDED pages it)
    alligator:{T}:failed      zset   id -> dead-lettered at (trimmed after status_ttl)
    alligator:{T}:dead        hash   "p:<id>" payload, "r:<id>" reason, "a:<id>" attempts,
                                     "t:<id>" dead-lettered at, "y:<id>" priority (when not 0)
    alligator:{T}:dead_order  zset   id -> seq (the dead letters, oldest first)
    alligator:{T}:wake        list   wake-up tokens for workers blocked in reserve
    alligator:{T}:results     hash   "v:<id>" result (JSON text), "t:<id>" acked at
    alligator:{T}:result_expiry zset id -> when its result expires (trimmed lazily)
    alligator:{T}:unique      hash   unique key -> "<mode>\t<until>\t<holder id>" (see unique_keys.lua)
    alligator:{T}:unique_ends zset   unique key -> until (records past it are dropped lazily)
    alligator:{T}:done        channel  ids of finished tasks, published by the scripts
                                       that ack or dead-letter ("<bytes>:<id>" each)
    alligator:{T}:work        channel  "1" whenever a wake-up token is pushed, for
                                       waiters on several queues of a Redis Cluster

A task of priority 0 lives in ``pending`` as it always did, and the hot
paths (push, and reserve on a queue with no other priority) touch nothing
else. A task with another priority waits in ``ranked_pending``, scored by
due time like ``pending``; reserve moves the ones that came due into
``ranked`` (in due order, each with a new sequence number, so that equal
priorities stay in the order they became due), where the score is
``100 - priority``: the lowest score, then the lowest member, is the next
task. Reserve then takes from ``ranked`` the scores below 100 (priorities
above 0), then the due tasks of ``pending``, then the rest of ``ranked``.
``priorities`` keeps a task's priority while it is reserved, so a release or
an expired lease puts it back in ``ranked_pending``.

The two channels are never stored; they are named here so that every name a
script uses comes in ``KEYS`` and carries the queue's hash tag. Results are
kept for their own TTL on the backend's clock (``result_expiry`` is trimmed by
every ack that takes effect, ``finished`` ignores a result past its time), and
both result keys carry a native expiry as a safety net: at least a day past
the longest result TTL written, so memory is bounded even if nothing trims.

The live workers' registry is not a queue's: it lives under the hash tag
``{%workers}``, which :func:`hash_tag` never makes (an escaped tag is ``%``
and hex digits), so no queue can share its keys::

    alligator:{%workers}:records  hash  "r:<id>" record, "e:<id>" expires at,
                                        "n:<id>" heartbeat number ("seq": the last)
    alligator:{%workers}:beats    zset  id -> last heartbeat (oldest first)

The paused queues and functions of a store are one key under a tag of their
own (see :mod:`alligator_redis.pauses`)::

    alligator:{%paused}:pauses  zset  "queue:<name>" / "function:<module:name>" -> 0

Schedules (:mod:`alligator_redis.scheduling`) keep, per queue, each
schedule's last enqueued tick in one more key of the queue, beside its
tasks, so the tick's push and its record are one script on one node; and
the queues that have records in one set of their own, an index for listing
(written before the script, so it may name a queue whose records are gone)::

    alligator:{T}:schedules            hash  "t:<name>" last tick, "a:<name>" about
    alligator:{%schedules}:queues      set   queue names

``alligator doctor`` writes and deletes one probe key,
``alligator:{<tag>}:doctor-probe:<random hex>``, to prove the server takes writes.
"""

from __future__ import annotations

import uuid

#: Every key of a queue, as the suffix after ``alligator:{T}:``.
KEY_NAMES = (
    "pending",
    "members",
    "ranked_pending",
    "ranked",
    "priorities",
    "ranked_due",
    "payloads",
    "attempts",
    "failures",
    "receipts",
    "leases",
    "seq",
    "succeeded",
    "failed",
    "dead",
    "dead_order",
    "wake",
    "results",
    "result_expiry",
    "unique",
    "unique_ends",
    "done",
    "work",
)

#: Marks an encoded hash tag; a name starting with it is encoded too.
TAG_ESCAPE = "%"


def hash_tag(queue: str) -> str:
    """Returns the hash tag of a queue's keys: a different one for every name.

    A name is used as it is unless a brace in it would change which part of
    the key Redis Cluster hashes, it is empty (``{}`` hashes the whole key),
    or it starts with the escape character ``%``: then the tag is ``%`` and
    the hex of the name's UTF-8 bytes. Names used as they are never start
    with ``%``, and hex is injective, so two names never share a key.

    Example:
        >>> hash_tag("emails"), hash_tag("ab{c"), hash_tag("%61")
        ('emails', '%61627b63', '%253631')

    Args:
        queue: The queue's name.

    Returns:
        The text between the braces of its keys.
    """
    if queue and "{" not in queue and "}" not in queue and not queue.startswith(TAG_ESCAPE):
        return queue
    return TAG_ESCAPE + queue.encode().hex()


def queue_of(key: str, suffix: str) -> str | None:
    """Returns the queue whose key this is, the inverse of :func:`queue_keys`.

    Example:
        >>> queue_of("alligator:{emails}:payloads", "payloads")
        'emails'
        >>> queue_of("alligator:{%61627b63}:dead", "dead")
        'ab{c'

    Args:
        key: A key name, as ``SCAN`` returns it.
        suffix: The key's name after the hash tag (one of the layout's names).

    Returns:
        The queue's name; None when the key is not one of a queue's.
    """
    prefix, end = "alligator:{", f"}}:{suffix}"
    if not (key.startswith(prefix) and key.endswith(end)):
        return None
    tag = key[len(prefix) : -len(end)]
    if not tag.startswith(TAG_ESCAPE):
        return None if "{" in tag or "}" in tag or not tag else tag
    try:
        return bytes.fromhex(tag[len(TAG_ESCAPE) :]).decode()
    except ValueError:
        return None


def queue_keys(queue: str) -> dict[str, str]:
    """Returns every key of a queue, by name (see the layout above)."""
    prefix = f"alligator:{{{hash_tag(queue)}}}:"
    return {name: prefix + name for name in KEY_NAMES}


def queue_pattern(suffix: str) -> str:
    """Returns the ``SCAN`` pattern matching one kind of key of every queue.

    Example:
        >>> queue_pattern("payloads")
        'alligator:{*}:payloads'
    """
    return f"alligator:{{*}}:{suffix}"


#: The registry's keys, by name, under a hash tag no queue's keys can have.
WORKER_KEYS = {name: f"alligator:{{{TAG_ESCAPE}workers}}:{name}" for name in ("records", "beats")}

#: The layout of the schedule scripts (a queue's keys and its schedule records' key).
SCHEDULE_KEY_NAMES = (*KEY_NAMES, "schedules")

#: The set of queues that hold schedule records, under a tag no queue can have.
SCHEDULE_QUEUES_KEY = f"alligator:{{{TAG_ESCAPE}schedules}}:queues"


def schedules_key(queue: str) -> str:
    """Returns the key of a queue's schedule records (see the layout above)."""
    return f"alligator:{{{hash_tag(queue)}}}:schedules"


#: The key of a store's pauses.
PAUSES_KEY = f"alligator:{{{TAG_ESCAPE}paused}}:pauses"


def probe_key(tag: str) -> str:
    """Returns a fresh key for ``doctor``'s write probe, under hash tag ``tag``."""
    return f"alligator:{{{tag}}}:doctor-probe:{uuid.uuid4().hex}"
