r"""The rate limits and concurrency slots of a Redis store: keys under one hash tag, six small scripts.

Every key of every limit carries the hash tag ``{%limits}``::

    alligator:{%limits}:rate:<key>    hash  tat, count, per: the key's GCRA time and the rate last asked
    alligator:{%limits}:book:<key>    zset  holder -> booked slot (see alligator.limit_store)
    alligator:{%limits}:slots:<key>   zset  holder -> end of its lease
    alligator:{%limits}:wait:<key>    zset  holder -> listed as waiting until
    alligator:{%limits}:lim:<key>     string  the concurrency limit last asked for
    alligator:{%limits}:index         zset  "rate:<key>" / "concurrency:<key>" -> live until

Why one hash tag for all: a limit key is global, not per queue (a task of
any queue may count against ``customer:7``), so no queue's tag fits; and a
listing of every key (``alligator limits``, the dashboard) is then one
script on one node, on a single server and on Redis Cluster alike, as the
pauses are (``{%limits}`` is a tag no queue can have: an escaped queue tag is
``%`` and hex digits). Each take touches only its key's few entries in one
script, so the node that holds the slot does a few commands per limited
task; a store of tens of thousands of limited tasks a second would want the
keys spread over the cluster, and a listing that visits every node.

Each key has a native expiry a little past the last time in it, so a key no
task asks for again leaves nothing behind; it is a safety net, never what
decides (every time is in the data, on the store's clock). A key of the wrong
type (planted by hand) is deleted by the next write; a time that is no number
or further ahead than :data:`~alligator.limit_store.MAX_RATE_HORIZON` counts
as absent.
"""

from __future__ import annotations

from alligator_redis.keys import TAG_ESCAPE
from alligator_redis.scripts import Script

#: The prefix of every limit key.
PREFIX = f"alligator:{{{TAG_ESCAPE}limits}}:"
#: The index of the keys that may hold live state.
INDEX_KEY = f"{PREFIX}index"
#: The key names a limit script may take, in the order :func:`keys_of` gives them.
LAYOUT = ("rate", "book", "slots", "wait", "lim", "index")


def keys_of(key: str) -> dict[str, str]:
    """The Redis key of each name of :data:`~alligator_redis.limits.LAYOUT` for one limit key."""
    names = {name: f"{PREFIX}{name}:{key}" for name in LAYOUT}
    names["index"] = INDEX_KEY
    return names


#: ARGV: now, holder, count, per, key. Returns the wait (text; '0' to go).
TAKE = Script("limit_take", LAYOUT)
#: ARGV: now, holder, limit, lease_seconds, key, waiter_seconds. Returns '0' or the wait.
ACQUIRE = Script("limit_acquire", LAYOUT)
#: ARGV: now, holder, lease_seconds, key. Returns 1 or 0.
EXTEND = Script("limit_extend", LAYOUT)
#: ARGV: holder. Returns 1 or 0.
RELEASE = Script("limit_release", LAYOUT)
#: ARGV: now, most. Returns the index's live members.
INDEX = Script("limit_index", LAYOUT)
#: ARGV: now, kind. Returns the key's state as stored, or nothing.
STATE = Script("limit_state", LAYOUT)

#: Every limit script.
LIMIT_SCRIPTS = (TAKE, ACQUIRE, EXTEND, RELEASE, INDEX, STATE)
