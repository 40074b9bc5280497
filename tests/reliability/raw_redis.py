"""Raw reads and writes of an alligator Redis queue, as anyone who can reach the server can make them.

The tests use this module to plant records the way a hostile (or buggy)
writer would: plain ``HSET``/``ZADD``, past ``push()`` and every check the
backend's scripts make. Everything here follows the key layout of
``alligator_redis`` (see ``alligator_redis.scripts``): if the backend's keys
change (their names, the queue-name encoding in the hash tag), change
:func:`keys` here, in this one place. :func:`check_layout` in the tests tells
when the two disagree.

Layout of a queue ``Q`` (``{Q}`` is the hash tag)::

    alligator:{Q}:pending    zset  "<seq:16 digits>:<id>" -> due time
    alligator:{Q}:members    hash  id -> its member in pending
    alligator:{Q}:payloads   hash  id -> payload
    alligator:{Q}:receipts   hash  id -> receipt (reserved)
    alligator:{Q}:leases     zset  id -> lease deadline (reserved)
    alligator:{Q}:seq        string counter
    alligator:{Q}:succeeded  zset  id -> acked at
    alligator:{Q}:results    hash  "v:<id>" result text, "t:<id>" acked at
    alligator:{Q}:result_expiry zset id -> when its result expires
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from raw_sqlite import RawRecord

__all__ = ["Leases", "RawRecord", "drop", "keys", "plant", "plant_result"]


def keys(queue: str) -> dict[str, str]:
    """The key names of a queue, by role."""
    # Queue names the tests use have no braces: the tag is the name itself.
    assert "{" not in queue and "}" not in queue, queue
    prefix = f"alligator:{{{queue}}}:"
    roles = ("pending", "members", "payloads", "attempts", "receipts", "leases", "seq", "wake")
    results = ("succeeded", "results", "result_expiry")
    return {role: prefix + role for role in (*roles, *results)}


def _client(url: str) -> redis.Redis:
    # Bytes in, bytes out: payloads that are not UTF-8 must reach the server unchanged.
    return redis.Redis.from_url(url, decode_responses=False, socket_timeout=60)


def plant(url: str, queue: str, records: Sequence[RawRecord]) -> None:
    """Writes waiting, due-now task records with exactly these payload bytes, in this order.

    ``RawRecord.storage`` is ignored: Redis stores bytes.
    """
    names = keys(queue)
    client = _client(url)
    try:
        seconds, micros = client.time()
        now = seconds + micros / 1_000_000
        last = int(client.incrby(names["seq"], len(records)))
        first = last - len(records) + 1
        for n, record in enumerate(records):
            member = f"{first + n:016d}:{record.task_id}".encode()
            # One pipeline per record: a 40 MiB value goes alone, not batched with others.
            pipe = client.pipeline(transaction=True)
            pipe.hset(names["payloads"], record.task_id, record.data)
            pipe.hset(names["members"], record.task_id, member)
            pipe.zadd(names["pending"], {member: now})
            pipe.execute()
        client.lpush(names["wake"], b"1")
    finally:
        client.close()


def plant_result(url: str, queue: str, task_id: str, result: str) -> None:
    """Writes a succeeded task with this stored result text, as if a worker had acked it."""
    names = keys(queue)
    client = _client(url)
    try:
        seconds, micros = client.time()
        now = seconds + micros / 1_000_000
        pipe = client.pipeline(transaction=True)
        pipe.zadd(names["succeeded"], {task_id: now})
        pipe.hset(names["results"], mapping={f"v:{task_id}": result, f"t:{task_id}": repr(now)})
        pipe.zadd(names["result_expiry"], {task_id: now + 3600})
        pipe.execute()
    finally:
        client.close()


class Leases:
    """The store's view of every lease of a queue, read again on each call.

    Calling it returns ``(task id, receipt) -> lease end`` (Unix time, the
    server's clock, which is this machine's). A lease that ran out stays
    listed until the next reserve reclaims it.
    """

    def __init__(self, url: str, queue: str) -> None:
        self.names = keys(queue)
        self.client = _client(url)

    def __call__(self) -> dict[tuple[str, str], float]:
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.names["receipts"])
        pipe.zrange(self.names["leases"], 0, -1, withscores=True)
        receipts, deadlines = pipe.execute()
        return {
            (task_id.decode(), receipts[task_id].decode()): float(deadline)
            for task_id, deadline in deadlines
            if task_id in receipts
        }

    def close(self) -> None:
        self.client.close()


def drop(url: str, queue: str) -> None:
    """Deletes every key of the queue, whatever the backend's drop_all knows of."""
    client = _client(url)
    try:
        found = list(client.scan_iter(match=f"alligator:{{{queue}}}:*".encode(), count=1000))
        if found:
            client.delete(*found)
    finally:
        client.close()
