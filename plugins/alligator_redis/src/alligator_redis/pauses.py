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
from alligator_redis.scripts import _DEFINITIONS, Script


def _pause_script(name: str, body: str) -> Script:
    helpers = "\n".join(
        source for key, source in _DEFINITIONS if key in ("fail", "finite", "whole", "UTF8", "utf8")
    )
    return Script(name, ("pauses",), f"local pauses = KEYS[1]\n{helpers}\n{body}")


#: ARGV: member ("kind:name"), "1" to pause or "0" to resume, the most pauses
#: kept. Returns 1 if it changed anything, 0 if not, -1 (writing nothing) for a
#: pause past the cap.
SET_PAUSED = _pause_script(
    "set_paused",
    """
local member = ARGV[1]
local cap = whole(ARGV[3], 'max_pauses', 0)
if ARGV[2] == '0' then return redis.call('ZREM', pauses, member) end
if redis.call('ZSCORE', pauses, member) then return 0 end
if redis.call('ZCARD', pauses) >= cap then return -1 end
return redis.call('ZADD', pauses, 0, member)
""",
)

#: ARGV: the longest member in bytes, the most of each kind. Returns the
#: members of the known kinds, skipping (never sending) one too long or not UTF-8.
PAUSED = _pause_script(
    "paused",
    """
local longest = whole(ARGV[1], 'longest', 0)
local most = whole(ARGV[2], 'most', 0)
local out = {}
for _, kind in ipairs({'function', 'queue'}) do
  local members = redis.call('ZRANGEBYLEX', pauses, '[' .. kind .. ':', '(' .. kind .. ';', 'LIMIT', 0, most)
  for _, member in ipairs(members) do
    if #member <= longest and utf8(member) then out[#out + 1] = member end
  end
end
return out
""",
)
