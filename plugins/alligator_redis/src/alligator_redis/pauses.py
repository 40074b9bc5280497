r"""The paused queues and functions of a Redis store: one key, two small scripts.

All pauses of a store live in one sorted set, every score 0, so its members
sort by their bytes::

    alligator:{%paused}:pauses  zset  "queue:<name>" / "function:<module:name>" -> 0

Why one key rather than a key per queue under the queue's own hash tag: a
worker reads the whole set about once a second, whatever queues it consumes,
and a paused function is paused in every queue. With one key that read is
one command on one node, on a single server and on Redis Cluster alike
(``{%paused}`` is a hash tag no queue can have: an escaped queue tag is
``%`` and hex digits); per-queue keys would cost a round trip per queue,
and listing every pause would need a ``SCAN`` of every node of a cluster.

Anyone who can write to the server can plant members, so the listing reads
only the two ranges of the known kinds (``ZRANGEBYLEX``), at most
:data:`~alligator.pausing.MAX_PAUSES` of each, and never sends a member
longer than the name limit or not UTF-8; the backend checks each name again
(:func:`alligator.pausing.listed`).
"""

from __future__ import annotations

from alligator_redis.keys import PAUSES_KEY as PAUSES_KEY
from alligator_redis.scripts import Script

#: ARGV: member ("kind:name"), "1" to pause or "0" to resume, the most pauses
#: kept. Returns 1 if it changed anything, 0 if not, -1 (writing nothing) for a
#: pause past the cap.
SET_PAUSED = Script("set_paused", ("pauses",))

#: ARGV: the longest member in bytes, the most of each kind. Returns the
#: members of the known kinds, skipping (never sending) one too long or not UTF-8.
PAUSED = Script("paused", ("pauses",))
