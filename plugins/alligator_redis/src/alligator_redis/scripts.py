r"""The Lua scripts of the Redis backend: one script per multi-key step.

Every script touches only the keys of one queue, passed in ``KEYS``; they all
carry the queue's hash tag, so a script runs atomically on one node, even on
Redis Cluster. Each script declares the names of the keys it takes once
(``Script.keys``); the backend passes them in that order and the script
sees them as Lua locals of the same names (``pending``, ``leases``...), so no
script addresses ``KEYS[n]`` by position. ``ARGV[1]`` of every script that
needs the time is either empty (use the server's ``TIME``) or a number (the
backend's injected clock), so one clock decides every due time and deadline.

The key layout of a queue, and why every key carries its hash tag, is in
:mod:`alligator_redis.keys`.

An id is in ``dead_order`` or in the live structures, never both: push
refuses a dead letter's id, and requeue refuses an id that is live.

Dead letters are kept within ``max_dead_letters`` per queue and
``dead_letter_ttl`` seconds: every script that writes one (reserve, get,
dead_letter) takes both as arguments and trims ``dead_order`` oldest first in
the same step (``retain``), so a flood of failures cannot fill the server's
memory. The backend lists queues with ``SCAN`` for ``payloads`` and
``dead_order`` keys, which exist exactly while a queue holds a live task or
a dead letter (``queue_of`` reads the name back from the hash tag).

Why a sequence number in front of each ``pending`` member: a sorted set
orders equal scores by member, so the zero-padded sequence makes tasks with
the same due time (a batch pushed in one script) come out in push order. A
fresh counter (a new queue, or one emptied by ``drop_all``) starts from the
server's time in microseconds, so a receipt handed out before ``drop_all``
never matches one handed out after it.

Redis does not roll back a script that fails half-way, so every script
checks every argument before its first write (an error then changes nothing).
Numbers stored in a record (attempts, failures, the sequence counter) are
input too: read and checked before any write, and written back as computed
values, never with HINCRBY/INCRBY on a value nobody checked. A record whose
count is no whole number is dead-lettered, alone, as corrupt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING

# The key layout lives in keys.py; re-exported here, where tests and tools found it first.
from alligator_redis.keys import KEY_NAMES as KEY_NAMES
from alligator_redis.keys import TAG_ESCAPE as TAG_ESCAPE
from alligator_redis.keys import WORKER_KEYS as WORKER_KEYS
from alligator_redis.keys import hash_tag as hash_tag
from alligator_redis.keys import queue_keys as queue_keys
from alligator_redis.keys import queue_of as queue_of

#: At most this many wake-up tokens wait in a queue's ``wake`` list, enough to
#: start that many blocked workers at once; reserve passes the baton on.
WAKE_CAP = 16
#: Expired leases moved back to ``pending`` by one reserve call.
RECLAIM_LIMIT = 1000
#: Dead letters past their time dropped at most per dead letter written: a
#: backlog (after the TTL was shortened) shrinks a batch at a time.
RETAIN_BATCH = 100
#: Expired results dropped at most per ack script.
RESULT_TRIM = 100
#: Seconds the native expiry of the result keys (and of the worker registry)
#: reaches past the longest TTL written: a safety net, never what decides.
RESULT_GRACE = 86400
#: The longest native expiry of that safety net, in milliseconds (about 30
#: years): a TTL longer than that (or one PEXPIRE cannot hold) gets this.
NET_CAP_MS = 10**12


@dataclass(frozen=True)
class Script:
    """One step: the key names it takes (in ``KEYS`` order) and its Lua source."""

    name: str
    keys: tuple[str, ...]
    source: str


# Everything scripts share; each script gets the definitions it uses. Every key
# name is a local (false when the script does not take that key), so the
# helpers below can name keys too; a helper that needs a key its script did not
# declare fails loudly.
_PRELUDE = r"""
-- Arguments are checked before the first write: a script that fails half-way is
-- not rolled back, and a task must never be left in no structure at all.
local function fail(message) error({err = 'ERR alligator: ' .. message}) end
local function finite(value, what)
  local x = tonumber(value)
  if x == nil or x ~= x or x == math.huge or x == -math.huge then
    fail(what .. ' must be a finite number, not ' .. tostring(value))
  end
  return x
end
local function whole(value, what, least)
  local x = finite(value, what)
  if x ~= math.floor(x) or x < least then fail(what .. ' must be a whole number >= ' .. least) end
  return x
end
-- How long statuses are kept: may be infinite (kept for ever), never NaN or negative.
local function ttl_arg(value, what)
  local x = tonumber(value)
  if x == nil or x ~= x or x < 0 then
    fail((what or 'status_ttl') .. ' must be a number >= 0, not ' .. tostring(value))
  end
  return x
end
local function clock()
  if ARGV[1] ~= '' then return finite(ARGV[1], 'now') end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- Scores go out with every digit: Lua's own number format keeps only 14, and a
-- rounded score could put a task due now a hair in the future.
local function fmt(x) return string.format('%.17g', x) end
local function int(x) return string.format('%d', x) end

-- Reserves n sequence numbers; returns the last. A fresh counter starts from
-- the server's time in microseconds (exact in a Lua number until year 2255).
-- A counter that is not a whole number exact in a Lua number (written by hand)
-- starts afresh too, never failing: INCRBY on it would stop the script after
-- earlier writes.
local function next_seq(n)
  local last = redis.call('GET', seq)
  if last and #last <= 16 and string.find(last, '^%d+$') and tonumber(last) < 2 ^ 53 - n then
    last = tonumber(last) + n
  else
    local t = redis.call('TIME')
    last = tonumber(t[1]) * 1000000 + tonumber(t[2]) + n
  end
  redis.call('SET', seq, int(last))
  return last
end
local function enqueue(id, due, number)
  local member = string.format('%016d:', number) .. id
  redis.call('ZADD', pending, fmt(due), member)
  redis.call('HSET', members, id, member)
end
-- Is any task due now? Workers block only when none is, so a push or release
-- needs to wake one only then; the worker it wakes passes the baton on.
local function any_due(now)
  local first = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
  return #first > 0 and tonumber(first[2]) <= now
end
local function wake_up(tokens)
  local room = __WAKE_CAP__ - redis.call('LLEN', wake)
  if tokens > room then tokens = room end
  for _ = 1, tokens do redis.call('LPUSH', wake, '1') end
  -- Waiters on several queues of a Redis Cluster cannot BLPOP keys of several
  -- slots: they subscribe to the queues' work channels instead.
  redis.call('PUBLISH', work, '1')
end
local function trim(statuses, now, ttl)
  redis.call('ZREMRANGEBYSCORE', statuses, '-inf', '(' .. fmt(now - ttl))
end

-- Receipts and leases.
-- A receipt holds only while its lease has not ended: once now reaches the
-- lease's end the old receipt is refused, re-reserved or not.
local function holds(id, receipt, now)
  if redis.call('HGET', receipts, id) ~= receipt then return false end
  local deadline = redis.call('ZSCORE', leases, id)
  return deadline ~= false and tonumber(deadline) > now
end
local function unlease(id)
  redis.call('HDEL', receipts, id)
  redis.call('ZREM', leases, id)
end
-- Hands out delivery number count of id (its stored count, checked, + 1);
-- returns its receipt.
local function lease(id, deadline, count)
  local receipt = int(next_seq(1))
  redis.call('HSET', receipts, id, receipt)
  redis.call('ZADD', leases, deadline, id)
  redis.call('HSET', attempts, id, int(count))
  return receipt
end
local function live(id)
  return redis.call('HEXISTS', members, id) == 1 or redis.call('HEXISTS', receipts, id) == 1
end

-- Dead-letter retention of this script: set from its arguments by keep_args
-- (a script that never sets it writes no dead letter).
local retention = {cap = false, age = false}
local function keep_args(cap, age)
  local seconds = tonumber(age)
  if seconds == nil or seconds ~= seconds or seconds < 0 then
    fail('dead_letter_ttl must be a number >= 0, not ' .. tostring(age))
  end
  retention.cap = whole(cap, 'max_dead_letters', 0)
  retention.age = seconds
end
-- Deletes one dead letter, and its FAILED status with it.
local function forget(id)
  if redis.call('ZREM', dead_order, id) == 0 then return 0 end
  redis.call('HDEL', dead, 'p:' .. id, 'r:' .. id, 'a:' .. id, 't:' .. id)
  redis.call('ZREM', failed, id)
  return 1
end
-- Whether the dead letter id is past its time (dead_letter_ttl = age): gone for
-- every reader, dropped yet or not. A time that is not a number: kept.
local function past_its_time(id, now, age)
  local at = tonumber(redis.call('HGET', dead, 't:' .. id) or '')
  return at ~= nil and at == at and at < now - age
end
-- Drops the letters past their time (among the oldest), then the oldest over
-- the cap, so a flood of failing tasks cannot fill the server's memory. A
-- letter whose time is not a number (written by hand) is not dated: kept.
local function retain(now)
  if not retention.cap then return end
  local horizon = now - retention.age
  for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, __RETAIN_BATCH__ - 1)) do
    local at = tonumber(redis.call('HGET', dead, 't:' .. id) or '')
    if at == nil or at ~= at or at >= horizon then break end
    forget(id)
  end
  local over = redis.call('ZCARD', dead_order) - retention.cap
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, over - 1)) do forget(id) end
  end
end
-- A stored value shown in a reason: short, printable ASCII, quoted.
local function shown(value)
  local s = string.gsub(string.sub(value, 1, 40), '[^\32-\126]', '?')
  if #value > 40 then s = s .. '...' end
  return "'" .. s .. "'"
end
-- A stored counter of id (absent: 0), or false and why the record is corrupt.
-- Only plain digits, few enough to be exact in a Lua number, are a count.
local function stored_count(hash, id, what)
  local value = redis.call('HGET', hash, id)
  if not value then return 0 end
  if #value <= 15 and string.find(value, '^%d+$') then return tonumber(value) end
  return false, 'record is corrupt: ' .. what .. ' is ' .. shown(value)
end
-- Both counters of id, checked before any write touches it: attempts and
-- failures, or false and why the record is corrupt.
local function counters(id)
  local count, why = stored_count(attempts, id, 'attempts')
  if not count then return false, why end
  local failed_count, why_failures = stored_count(failures, id, 'failures')
  if not failed_count then return false, why_failures end
  return count, failed_count
end
-- The id a dead letter of id is stored under: id itself, or its first max bytes
-- when it is longer (an incomplete UTF-8 sequence cut at the end becomes
-- U+FFFD, as Python's decode with "replace" reads it).
local function cut_id(id, max)
  if #id <= max then return id end
  local cut = string.sub(id, 1, max)
  for tail = 1, 3 do
    local lead = string.byte(cut, #cut - tail + 1)
    if lead and lead >= 192 then
      local need = (lead >= 240 and 4) or (lead >= 224 and 3) or 2
      if need > tail then cut = string.sub(cut, 1, #cut - tail) .. '\239\191\189' end
      break
    end
    if not lead or lead < 128 then break end
  end
  return cut
end
-- Strict UTF-8, as Python's decoder reads it (no surrogates, no overlong
-- forms): every valid multi-byte sequence becomes an ASCII 'x'; a byte >= 128
-- left over is one no sequence explains. The sequences never overlap, since
-- each starts with a lead byte no continuation byte equals.
local UTF8 = {
  '[\194-\223][\128-\191]',
  '\224[\160-\191][\128-\191]',
  '[\225-\236\238\239][\128-\191][\128-\191]',
  '\237[\128-\159][\128-\191]',
  '\240[\144-\191][\128-\191][\128-\191]',
  '[\241-\243][\128-\191][\128-\191][\128-\191]',
  '\244[\128-\143][\128-\191][\128-\191]',
}
local function utf8(s)
  if not string.find(s, '[\128-\255]') then return true end
  for _, sequence in ipairs(UTF8) do s = string.gsub(s, sequence, 'x') end
  return not string.find(s, '[\128-\255]')
end
-- A succeeded task's kept result as finished() hands it out: {kind, value,
-- reason, stored at} with kind 'R' (handed out) or 'S' (withheld: the reason
-- says why); nil when none is kept or it expired. Measured, never read, when
-- over max bytes.
local function kept_result(id, now, max)
  local expires = redis.call('ZSCORE', result_expiry, id)
  if not (expires and tonumber(expires) > now) then return nil end
  local stored_at = redis.call('HGET', results, 't:' .. id) or ''
  local size = redis.call('HSTRLEN', results, 'v:' .. id)
  if size > max then
    return {'S', '', 'result is ' .. int(size) .. ' bytes, over the limit of ' .. int(max), stored_at}
  end
  local value = redis.call('HGET', results, 'v:' .. id)
  if not value then return nil end
  if not utf8(value) then return {'S', '', 'result is not valid UTF-8', stored_at} end
  return {'R', value, '', stored_at}
end
-- Publishes the ids of tasks that just finished on the queue's done channel,
-- each as "<bytes>:<id>", for wait_finished. An id that is not UTF-8 is left
-- out: no caller can wait for it (the client decodes messages as UTF-8).
local function announce(ids)
  local parts = {}
  for _, id in ipairs(ids) do
    if utf8(id) then parts[#parts + 1] = int(#id) .. ':' .. id end
  end
  if #parts > 0 then redis.call('PUBLISH', done, table.concat(parts)) end
end
-- Ends a task that is in neither pending nor leases any more: its payload moves
-- to the dead letters, with a reason and count deliveries, under the id as
-- (id itself unless it is too long to hand out).
local function bury(id, reason, now, ttl, count, as)
  as = as or id
  local nowf = fmt(now)
  local payload = redis.call('HGET', payloads, id) or ''
  redis.call('HSET', dead, 'p:' .. as, payload, 'r:' .. as, reason, 'a:' .. as, int(count), 't:' .. as, nowf)
  redis.call('ZADD', dead_order, int(next_seq(1)), as)
  redis.call('HDEL', payloads, id)
  redis.call('HDEL', attempts, id)
  redis.call('HDEL', failures, id)
  redis.call('ZREM', succeeded, id)
  redis.call('ZREM', succeeded, as)
  redis.call('ZADD', failed, nowf, as)
  -- A result of an earlier run of the same id is not this task's.
  redis.call('HDEL', results, 'v:' .. as, 't:' .. as)
  redis.call('ZREM', result_expiry, as)
  trim(failed, now, ttl)
  retain(now)
  announce({as})
end

-- The payload of id if a caller may have it; else false and why not. A payload
-- over the limit is measured, never read.
local function readable(id, max)
  if not utf8(id) then return false, 'task id is not valid UTF-8' end
  local size = redis.call('HSTRLEN', payloads, id)
  if size > max then return false, 'payload is ' .. int(size) .. ' bytes, over the limit of ' .. int(max) end
  local payload = redis.call('HGET', payloads, id)
  if not payload then return false, 'payload is missing' end
  if not utf8(payload) then return false, 'payload is not valid UTF-8' end
  return payload
end
-- A delivery of a record no caller may have (count deliveries before it):
-- counted, and dead-lettered.
local function refuse(id, reason, now, ttl, count, as)
  unlease(id)
  bury(id, reason, now, ttl, count + 1, as)
end
-- Takes a due or expired record out for a delivery: the reply's five fields
-- appended to out, or the record dead-lettered, alone, with why. Everything
-- about it is read and checked before its first write.
local function deliver(id, out, deadline, max, max_id, now, ttl)
  local count, failed_count = counters(id)
  if #id > max_id then
    local as = cut_id(id, max_id)
    if live(as) or redis.call('ZSCORE', dead_order, as) then
      -- Its cut id is another task's: a dead letter under it would overwrite
      -- that one, and no other id is the cut. The record is dropped.
      unlease(id)
      redis.call('HDEL', payloads, id)
      redis.call('HDEL', attempts, id)
      redis.call('HDEL', failures, id)
      return
    end
    local why = 'task id is ' .. int(#id) .. ' bytes, over the limit of ' .. int(max_id)
    refuse(id, why, now, ttl, count or 0, as)
    return
  end
  if not count then
    refuse(id, failed_count, now, ttl, 0)
    return
  end
  local payload, why = readable(id, max)
  if not payload then
    refuse(id, why, now, ttl, count)
    return
  end
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = lease(id, deadline, count + 1)
  out[#out + 1] = count + 1
  out[#out + 1] = failed_count
end
-- Puts a dead letter back at the end of the queue, due now, its counts reset;
-- false (changing nothing) when it is not a dead letter or its id is live.
local function revive(id, now)
  if not redis.call('ZSCORE', dead_order, id) or live(id) then return false end
  redis.call('HSET', payloads, id, redis.call('HGET', dead, 'p:' .. id) or '')
  redis.call('HDEL', dead, 'p:' .. id, 'r:' .. id, 'a:' .. id, 't:' .. id)
  redis.call('ZREM', dead_order, id)
  redis.call('ZREM', failed, id)
  redis.call('HDEL', attempts, id)
  redis.call('HDEL', failures, id)
  enqueue(id, now, next_seq(1))
  return true
end
"""


def _definitions(prelude: str) -> list[tuple[str, str]]:
    """Splits the prelude into its definitions (name, source with its comments), in order."""
    found: list[tuple[str, str]] = []
    comments: list[str] = []
    for line in prelude.strip("\n").splitlines():
        start = re.match(r"local (?:function )?(\w+)", line)
        if start:
            found.append((start.group(1), "\n".join([*comments, line])))
            comments = []
        elif line.startswith("--"):
            comments.append(line)
        elif line.strip():
            name, source = found[-1]
            found[-1] = (name, f"{source}\n{line}")
    return found


_DEFINITIONS = _definitions(_PRELUDE)


def _helpers(body: str) -> str:
    """The definitions the body uses, directly or through one another, in prelude
    order: Lua builds every function of a script on every call, so a script
    carries only what it needs (the push hot path stays small)."""
    used: set[str] = set()
    text = body
    while True:
        more = {name for name, source in _DEFINITIONS if name not in used and re.search(rf"\b{name}\b", text)}
        if not more:
            break
        used |= more
        text = body + "".join(source for name, source in _DEFINITIONS if name in used)
    return "\n".join(source for name, source in _DEFINITIONS if name in used)


def _script(name: str, keys: str, body: str, **constants: object) -> Script:
    names = tuple(keys.split())
    unknown = set(names) - set(KEY_NAMES)
    if unknown:
        raise ValueError(f"script {name} names unknown keys {sorted(unknown)}")
    bound = ", ".join(f"KEYS[{names.index(key) + 1}]" if key in names else "false" for key in KEY_NAMES)
    source = f"local {', '.join(KEY_NAMES)} = {bound}\n{_helpers(body)}\n{body}"
    for constant, value in {"WAKE_CAP": WAKE_CAP, "RETAIN_BATCH": RETAIN_BATCH, **constants}.items():
        source = source.replace(f"__{constant}__", str(value))
    return Script(name, names, source)


#: ARGV: now, id, payload, delay. Returns 1 if added, 0 if the id is taken
#: (waiting, delayed, reserved or a dead letter).
#: The hot path of every producer: five commands when the queue is busy.
PUSH = _script(
    "push",
    "payloads members pending seq wake dead_order work",
    """
local now = clock()
local id = ARGV[2]
local delay = finite(ARGV[4], 'delay')
if delay < 0 then delay = 0 end
if redis.call('ZSCORE', dead_order, id) then return 0 end
local was_due = any_due(now)
if redis.call('HSETNX', payloads, id, ARGV[3]) == 0 then return 0 end
enqueue(id, now + delay, next_seq(1))
if delay == 0 and not was_due then wake_up(1) end
return 1
""",
)

#: ARGV: now, then (id, payload) pairs when every delay is 0, else (id, payload,
#: delay) triples; ARGV[2] says which ("2" or "3"). Returns how many were added.
#: A few commands per batch, not per task: one HMGET finds the ids taken
#: already, then one HSET, ZADD and HSET write the rest.
PUSH_MANY = _script(
    "push_many",
    "payloads members pending seq wake dead_order work",
    """
local now = clock()
local width = tonumber(ARGV[2])
if width ~= 2 and width ~= 3 then fail('width must be 2 or 3') end
if (#ARGV - 2) % width ~= 0 then fail('items must come in groups of ' .. width) end
local ids, delays = {}, {}
for i = 3, #ARGV, width do
  ids[#ids + 1] = ARGV[i]
  local delay = 0
  if width == 3 then delay = finite(ARGV[i + 2], 'delay') end
  if delay < 0 then delay = 0 end
  delays[#delays + 1] = delay
end
if #ids == 0 then return 0 end
local present = redis.call('HMGET', payloads, unpack(ids))
local seen = {}
local count = 0
for k, id in ipairs(ids) do
  if not present[k] and redis.call('ZSCORE', dead_order, id) then present[k] = true end
  if not present[k] and not seen[id] then
    seen[id] = true
    count = count + 1
  end
end
if count == 0 then return 0 end
local was_due = any_due(now)
-- One INCRBY reserves a run of sequence numbers for the whole batch.
local first_seq = next_seq(count) - count
local new_payloads, scores, new_members = {}, {}, {}
local due_now, n = 0, 0
seen = {}
for k, id in ipairs(ids) do
  if not present[k] and not seen[id] then
    seen[id] = true
    local delay = delays[k]
    if delay == 0 then due_now = due_now + 1 end
    n = n + 1
    local member = string.format('%016d:', first_seq + n) .. id
    new_payloads[#new_payloads + 1] = id
    new_payloads[#new_payloads + 1] = ARGV[3 + (k - 1) * width + 1]
    new_members[#new_members + 1] = id
    new_members[#new_members + 1] = member
    scores[#scores + 1] = fmt(now + delay)
    scores[#scores + 1] = member
  end
end
redis.call('HSET', payloads, unpack(new_payloads))
redis.call('ZADD', pending, unpack(scores))
redis.call('HSET', members, unpack(new_members))
if due_now > 0 and not was_due then wake_up(due_now) end
return n
""",
)

#: ARGV: now, lease_seconds, limit, max_payload_bytes, status_ttl, max_task_id_bytes,
#: max_dead_letters, dead_letter_ttl.
#: Returns (id, payload, receipt, attempts, failures) flattened, oldest first;
#: or, when nothing is due, a single number: milliseconds until the next
#: delayed task or lease deadline (-1 when there is none; 0 when every due
#: record was dead-lettered as unreadable).
RESERVE = _script(
    "reserve",
    "pending members payloads attempts failures receipts leases seq succeeded failed dead dead_order wake"
    " results result_expiry done work",
    """
local now = clock()
local lease_for = finite(ARGV[2], 'lease_seconds')
local limit = whole(ARGV[3], 'limit', 1)
local max = whole(ARGV[4], 'max_payload_bytes', 0)
local ttl = ttl_arg(ARGV[5])
local max_id = whole(ARGV[6], 'max_task_id_bytes', 1)
keep_args(ARGV[7], ARGV[8])
local nowf = fmt(now)
-- Expired leases become due again, at their deadline: that is when they became due.
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, __RECLAIM__)
if #expired > 0 then
  local first = next_seq(#expired / 2) - #expired / 2
  for i = 1, #expired, 2 do
    local id = expired[i]
    enqueue(id, tonumber(expired[i + 1]), first + (i + 1) / 2)
    redis.call('HDEL', receipts, id)
  end
  redis.call('ZREMRANGEBYRANK', leases, 0, #expired / 2 - 1)
end
local due = redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'LIMIT', 0, limit)
if #due == 0 then
  -- Nothing is due at this instant, so every token in the list is stale.
  redis.call('DEL', wake)
  local nxt = false
  local p = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
  if #p > 0 then nxt = tonumber(p[2]) end
  local l = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  if #l > 0 and (not nxt or tonumber(l[2]) < nxt) then nxt = tonumber(l[2]) end
  if not nxt then return {-1} end
  return {math.ceil((nxt - now) * 1000)}
end
redis.call('ZREMRANGEBYRANK', pending, 0, #due - 1)
local deadline = fmt(now + lease_for)
local out = {}
for _, member in ipairs(due) do
  local id = string.sub(member, 18)
  redis.call('HDEL', members, id)
  deliver(id, out, deadline, max, max_id, now, ttl)
end
if #due == limit and #redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'LIMIT', 0, 1) > 0 then
  -- More is due than this worker took: pass the baton to a blocked one.
  wake_up(1)
end
if #out == 0 then return {0} end
return out
""",
    RECLAIM=RECLAIM_LIMIT,
)

#: ARGV: now, status_ttl, then (id, receipt, result_ttl, result) groups;
#: result_ttl is empty when no result is kept (result is then empty too).
#: Returns how many were acked. Acks and results of the whole batch are one
#: script: one round trip, and a result is kept exactly when its ack takes
#: effect. The ids acked are published on the done channel, in one message.
ACK = _script(
    "ack",
    "receipts leases payloads attempts failures succeeded failed results result_expiry done",
    """
local now = clock()
local ttl = ttl_arg(ARGV[2])
if (#ARGV - 2) % 4 ~= 0 then fail('acks must come as (id, receipt, result_ttl, result)') end
-- Every result TTL is checked before the first write.
local keep_for = {}
for i = 3, #ARGV, 4 do
  if ARGV[i + 2] ~= '' then
    local seconds = finite(ARGV[i + 2], 'result_ttl')
    if seconds < 0 then seconds = 0 end
    keep_for[i] = seconds
  end
end
local nowf = fmt(now)
local had_results = redis.call('EXISTS', result_expiry) == 1
local acked, ids, longest = 0, {}, false
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  if holds(id, ARGV[i + 1], now) then
    unlease(id)
    redis.call('HDEL', payloads, id)
    redis.call('HDEL', attempts, id)
    redis.call('HDEL', failures, id)
    redis.call('ZADD', succeeded, nowf, id)
    -- A push does not clear an old status (status looks at live states
    -- first); a finish replaces it.
    redis.call('ZREM', failed, id)
    local seconds = keep_for[i]
    if seconds then
      -- A result replaces any older one of the same id.
      redis.call('HSET', results, 'v:' .. id, ARGV[i + 3], 't:' .. id, nowf)
      redis.call('ZADD', result_expiry, fmt(now + seconds), id)
      if not longest or seconds > longest then longest = seconds end
    elseif had_results then
      -- An earlier run's result is not this run's.
      redis.call('HDEL', results, 'v:' .. id, 't:' .. id)
      redis.call('ZREM', result_expiry, id)
    end
    ids[#ids + 1] = id
    acked = acked + 1
  end
end
if acked > 0 then
  -- Forgetting old statuses and results here costs O(log n) per ack and
  -- needs no sweeper.
  trim(succeeded, now, ttl)
  if had_results or longest then
    local gone = redis.call('ZRANGEBYSCORE', result_expiry, '-inf', nowf, 'LIMIT', 0, __RESULT_TRIM__)
    for _, id in ipairs(gone) do redis.call('HDEL', results, 'v:' .. id, 't:' .. id) end
    if #gone > 0 then redis.call('ZREM', result_expiry, unpack(gone)) end
  end
  if longest then
    -- The safety net: a native expiry well past the longest result kept, only
    -- ever lengthened, so the keys vanish even if no ack ever trims them.
    -- Capped: PEXPIRE refuses a time past what Redis can hold, and would stop
    -- the script after its writes.
    local ms = int(math.min(math.ceil((longest + __RESULT_GRACE__) * 1000), __NET_CAP__))
    for _, key in ipairs({results, result_expiry}) do
      local left = redis.call('PTTL', key)
      if left == -1 or (left >= 0 and left < tonumber(ms)) then redis.call('PEXPIRE', key, ms) end
    end
  end
  announce(ids)
end
return acked
""",
    RESULT_TRIM=RESULT_TRIM,
    RESULT_GRACE=RESULT_GRACE,
    NET_CAP=NET_CAP_MS,
)

#: ARGV: now, id, receipt, delay, attempted ("1" or "0"). Returns 1 or 0.
RELEASE = _script(
    "release",
    "receipts leases attempts failures pending members seq wake payloads dead dead_order succeeded failed"
    " results result_expiry done work",
    """
local now = clock()
local id = ARGV[2]
local delay = finite(ARGV[4], 'delay')
if delay < 0 then delay = 0 end
local attempted = ARGV[5]
if attempted ~= '1' and attempted ~= '0' then fail('attempted must be 1 or 0') end
if not holds(id, ARGV[3], now) then return 0 end
local count, failed_count = counters(id)
unlease(id)
if not count then
  -- A counter written by hand is no number: the task ends here, settled; its
  -- status is kept for ever (release takes no status_ttl to trim by).
  bury(id, failed_count, now, math.huge, 0)
  return 1
end
if attempted == '1' then
  redis.call('HSET', failures, id, int(failed_count + 1))
elseif count > 0 then
  redis.call('HSET', attempts, id, int(count - 1))
end
local was_due = any_due(now)
enqueue(id, now + delay, next_seq(1))
if delay == 0 and not was_due then wake_up(1) end
return 1
""",
)

#: ARGV: now, lease_seconds, then (id, receipt) pairs. Returns one 1/0 per pair.
EXTEND = _script(
    "extend",
    "receipts leases",
    """
local now = clock()
local deadline = fmt(now + finite(ARGV[2], 'lease_seconds'))
if (#ARGV - 2) % 2 ~= 0 then fail('ids and receipts must come in pairs') end
local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local kept = 0
  if holds(id, ARGV[i + 1], now) then
    local score = redis.call('ZSCORE', leases, id)
    if score and tonumber(score) > now then
      redis.call('ZADD', leases, deadline, id)
      kept = 1
    end
  end
  out[#out + 1] = kept
end
return out
""",
)

#: ARGV: now, status_ttl, id, receipt, reason, max_dead_letters, dead_letter_ttl.
#: Returns 1 or 0.
DEAD_LETTER = _script(
    "dead_letter",
    "receipts leases payloads attempts failures dead dead_order failed succeeded seq"
    " results result_expiry done",
    """
local now = clock()
local ttl = ttl_arg(ARGV[2])
keep_args(ARGV[6], ARGV[7])
local id = ARGV[3]
if not holds(id, ARGV[4], now) then return 0 end
-- A corrupt count is taken as 0: the reason the worker gives is kept.
local count = stored_count(attempts, id, 'attempts') or 0
unlease(id)
bury(id, ARGV[5], now, ttl, count)
return 1
""",
)

#: ARGV: now, id, lease_seconds, max_payload_bytes, status_ttl, max_task_id_bytes,
#: max_dead_letters, dead_letter_ttl. Returns (id, payload, receipt, attempts,
#: failures), or nothing.
GET = _script(
    "get",
    "members pending payloads attempts failures receipts leases seq succeeded failed dead dead_order"
    " results result_expiry done",
    """
local now = clock()
local id = ARGV[2]
local lease_for = finite(ARGV[3], 'lease_seconds')
local max = whole(ARGV[4], 'max_payload_bytes', 0)
local ttl = ttl_arg(ARGV[5])
local max_id = whole(ARGV[6], 'max_task_id_bytes', 1)
keep_args(ARGV[7], ARGV[8])
local member = redis.call('HGET', members, id)
if member then
  redis.call('ZREM', pending, member)
  redis.call('HDEL', members, id)
else
  -- A task whose lease ran out is waiting again, even before a reserve moves it.
  local deadline = redis.call('ZSCORE', leases, id)
  if not deadline or tonumber(deadline) > now then return {} end
end
local out = {}
deliver(id, out, fmt(now + lease_for), max, max_id, now, ttl)
return out
""",
)

#: ARGV: now, id, max_payload_bytes. Returns the payload of a waiting, delayed
#: or reserved task, or nil; changes nothing.
PEEK = _script(
    "peek",
    "members receipts payloads",
    """
clock()
local id = ARGV[2]
local max = whole(ARGV[3], 'max_payload_bytes', 0)
if not live(id) then return false end
local payload = readable(id, max)
return payload
""",
)

#: ARGV: now, id. Returns 1 or 0.
CANCEL = _script(
    "cancel",
    "members pending payloads attempts failures receipts leases succeeded failed results result_expiry",
    """
local now = clock()
local id = ARGV[2]
local member = redis.call('HGET', members, id)
if member then
  redis.call('ZREM', pending, member)
  redis.call('HDEL', members, id)
else
  -- A task whose lease ran out is waiting again: it can be cancelled.
  local deadline = redis.call('ZSCORE', leases, id)
  if not deadline or tonumber(deadline) > now then return 0 end
  unlease(id)
end
redis.call('HDEL', payloads, id)
redis.call('HDEL', attempts, id)
redis.call('HDEL', failures, id)
-- A status left from an earlier run of the same id must not outlive the cancel.
redis.call('ZREM', succeeded, id)
redis.call('ZREM', failed, id)
redis.call('HDEL', results, 'v:' .. id, 't:' .. id)
redis.call('ZREM', result_expiry, id)
return 1
""",
)

#: ARGV: now, status_ttl, id, dead_letter_ttl. Returns a status constant, or -1
#: for unknown. Agrees with FINISHED: a dead letter is FAILED until its time is
#: past, a kept result SUCCESS until it expires, whatever status_ttl says.
STATUS = _script(
    "status",
    "receipts leases members pending succeeded failed dead dead_order results result_expiry",
    """
local now = clock()
local ttl = ttl_arg(ARGV[2])
local id = ARGV[3]
local age = ttl_arg(ARGV[4], 'dead_letter_ttl')
if redis.call('HEXISTS', receipts, id) == 1 then
  local deadline = redis.call('ZSCORE', leases, id)
  -- A lease that ran out makes the task due again, even before a reserve moves it.
  if deadline and tonumber(deadline) <= now then return __WAITING__ end
  return __RUNNING__
end
local member = redis.call('HGET', members, id)
if member then
  local due = redis.call('ZSCORE', pending, member)
  if due and tonumber(due) > now then return __DELAYED__ end
  return __WAITING__
end
if redis.call('ZSCORE', dead_order, id) then
  if past_its_time(id, now, age) then return -1 end
  return __FAILED__
end
local expires = redis.call('ZSCORE', result_expiry, id)
if expires and tonumber(expires) > now and redis.call('HEXISTS', results, 'v:' .. id) == 1 then
  return __SUCCESS__
end
local horizon = now - ttl
local at = redis.call('ZSCORE', succeeded, id)
if at and tonumber(at) >= horizon then return __SUCCESS__ end
at = redis.call('ZSCORE', failed, id)
if at and tonumber(at) >= horizon then return __FAILED__ end
return -1
""",
    WAITING=WAITING,
    RUNNING=RUNNING,
    DELAYED=DELAYED,
    SUCCESS=SUCCESS,
    FAILED=FAILED,
)

#: ARGV: now. Returns waiting + delayed + expired leases.
LEN = _script(
    "len",
    "pending leases",
    """
return redis.call('ZCARD', pending) + redis.call('ZCOUNT', leases, '-inf', fmt(clock()))
""",
)

#: ARGV: now, limit, max_payload_bytes, max_task_id_bytes, max_dead_letters,
#: dead_letter_ttl. Drops the letters past their time first (retention), then
#: returns (id, payload, reason, attempts, failed_at) flattened, oldest first;
#: a payload or an id over its limit is cut to it; attempts and failed_at are
#: numbers (0 when the stored field is not one).
DEAD_LETTERS = _script(
    "dead_letters",
    "dead_order dead failed",
    """
local now = clock()
local limit = whole(ARGV[2], 'limit', 1)
local max = whole(ARGV[3], 'max_payload_bytes', 0)
local max_id = whole(ARGV[4], 'max_task_id_bytes', 1)
keep_args(ARGV[5], ARGV[6])
retain(now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, limit - 1)) do
  local payload = redis.call('HGET', dead, 'p:' .. id) or ''
  if #payload > max then payload = string.sub(payload, 1, max) end
  local f = redis.call('HMGET', dead, 'r:' .. id, 'a:' .. id, 't:' .. id)
  local count = f[2]
  if not (count and #count <= 15 and string.find(count, '^%d+$')) then count = '0' end
  local at = tonumber(f[3] or '0')
  if at == nil or at ~= at or at == math.huge or at == -math.huge then at = 0 end
  out[#out + 1] = cut_id(id, max_id)
  out[#out + 1] = payload
  out[#out + 1] = f[1] or ''
  out[#out + 1] = count
  out[#out + 1] = fmt(at)
end
return out
""",
)

#: ARGV: now, id. Returns 1, or 0 when no dead letter has that id or (a record
#: written by hand) the id is live too: nothing is ever overwritten.
REQUEUE = _script(
    "requeue",
    "dead dead_order failed payloads attempts failures members receipts pending seq wake work",
    """
local now = clock()
local was_due = any_due(now)
if not revive(ARGV[2], now) then return 0 end
if not was_due then wake_up(1) end
return 1
""",
)

#: ARGV: now, dead_letter_ttl. Returns (waiting, delayed, running, dead); an
#: ended lease is waiting; a dead letter past its time is not counted (listing
#: would drop it). The letters are in the order they failed: the expired ones
#: are the oldest, counted until the first that is not.
COUNTS = _script(
    "counts",
    "pending leases dead_order dead",
    """
local now = clock()
local nowf = fmt(now)
local age = ttl_arg(ARGV[2], 'dead_letter_ttl')
local expired = 0
local first = 0
while true do
  local batch = redis.call('ZRANGE', dead_order, first, first + __RETAIN_BATCH__ - 1)
  local stop = #batch == 0
  for _, id in ipairs(batch) do
    if not past_its_time(id, now, age) then stop = true break end
    expired = expired + 1
  end
  if stop then break end
  first = first + #batch
end
return {
  redis.call('ZCOUNT', pending, '-inf', nowf) + redis.call('ZCOUNT', leases, '-inf', nowf),
  redis.call('ZCOUNT', pending, '(' .. nowf, '+inf'),
  redis.call('ZCOUNT', leases, '(' .. nowf, '+inf'),
  redis.call('ZCARD', dead_order) - expired,
}
""",
)

#: ARGV: now, state, offset, limit (>= 1), max_payload_bytes, max_dead_letters,
#: dead_letter_ttl. Returns (id, payload, attempts, failures, due or failed_at,
#: reason) flattened, in the state's order; payloads cut to the limit. Changes
#: nothing, except that listing dead letters drops those past their time first.
TASKS = _script(
    "tasks",
    "pending payloads attempts failures leases dead dead_order failed",
    """
local now = clock()
local state = ARGV[2]
local offset = whole(ARGV[3], 'offset', 0)
local limit = whole(ARGV[4], 'limit', 1)
local max = whole(ARGV[5], 'max_payload_bytes', 0)
keep_args(ARGV[6], ARGV[7])
local nowf = fmt(now)
local function cut(payload)
  if payload and #payload > max then return string.sub(payload, 1, max) end
  return payload or ''
end
local out = {}
local function add(id, at)
  out[#out + 1] = id
  out[#out + 1] = cut(redis.call('HGET', payloads, id))
  out[#out + 1] = redis.call('HGET', attempts, id) or '0'
  out[#out + 1] = redis.call('HGET', failures, id) or '0'
  out[#out + 1] = at
  out[#out + 1] = ''
end
if state == 'dead' then
  retain(now)
  for _, id in ipairs(redis.call('ZRANGE', dead_order, offset, offset + limit - 1)) do
    local f = redis.call('HMGET', dead, 'p:' .. id, 'a:' .. id, 't:' .. id, 'r:' .. id)
    out[#out + 1] = id
    out[#out + 1] = cut(f[1])
    out[#out + 1] = f[2] or '0'
    out[#out + 1] = '0'
    out[#out + 1] = f[3] or '0'
    out[#out + 1] = f[4] or ''
  end
elseif state == 'delayed' then
  local found = redis.call('ZRANGEBYSCORE', pending, '(' .. nowf, '+inf',
    'WITHSCORES', 'LIMIT', offset, limit)
  for i = 1, #found, 2 do add(string.sub(found[i], 18), found[i + 1]) end
elseif state == 'running' then
  local found = redis.call('ZRANGEBYSCORE', leases, '(' .. nowf, '+inf',
    'WITHSCORES', 'LIMIT', offset, limit)
  for i = 1, #found, 2 do add(found[i], found[i + 1]) end
elseif state == 'waiting' then
  -- The due tasks, merged with the ended leases as reserve would merge them:
  -- by due time, a lease that ended after the waiting tasks of the same time.
  local want = offset + limit
  local due = redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, want)
  local ended = redis.call('ZRANGEBYSCORE', leases, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, want)
  local i, j, n = 1, 1, 0
  while n < want and (i <= #due or j <= #ended) do
    local id, at
    if j > #ended or (i <= #due and tonumber(due[i + 1]) <= tonumber(ended[j + 1])) then
      id, at = string.sub(due[i], 18), due[i + 1]
      i = i + 2
    else
      id, at = ended[j], ended[j + 1]
      j = j + 2
    end
    n = n + 1
    if n > offset then add(id, at) end
  end
else
  fail('unknown state ' .. state)
end
return out
""",
)

#: ARGV: id. Returns 1 if that dead letter was deleted, else 0.
DELETE_DEAD = _script(
    "delete_dead",
    "dead dead_order failed",
    """
return forget(ARGV[1])
""",
)

#: No ARGV. Deletes every dead letter of the queue; returns how many.
PURGE_DEAD = _script(
    "purge_dead",
    "dead dead_order failed",
    """
local ids = redis.call('ZRANGE', dead_order, 0, -1)
for _, id in ipairs(ids) do redis.call('ZREM', failed, id) end
redis.call('DEL', dead, dead_order)
return #ids
""",
)

#: ARGV: now. Requeues every dead letter, in the order they failed, each as
#: requeue does; returns how many (a letter whose id is live stays).
REQUEUE_ALL = _script(
    "requeue_all",
    "dead dead_order failed payloads attempts failures members receipts pending seq wake work",
    """
local now = clock()
local was_due = any_due(now)
local count = 0
for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, -1)) do
  if revive(id, now) then count = count + 1 end
end
if count > 0 and not was_due then wake_up(count) end
return count
""",
)

#: ARGV: now, status_ttl, id, max_payload_bytes, dead_letter_ttl. Returns nothing when the task
#: is live or unknown; else (kind, result, reason, finished_at) with kind "R"
#: (succeeded, result handed out), "S" (succeeded, no result; reason says why
#: when one is kept but cannot be handed out) or "F" (a dead letter). A result
#: over the limit is measured, never read. Changes nothing.
FINISHED = _script(
    "finished",
    "members receipts dead dead_order results result_expiry succeeded",
    """
local now = clock()
local ttl = ttl_arg(ARGV[2])
local id = ARGV[3]
local max = whole(ARGV[4], 'max_payload_bytes', 0)
local age = ttl_arg(ARGV[5], 'dead_letter_ttl')
if live(id) then return {} end
if redis.call('ZSCORE', dead_order, id) then
  -- Past its time a letter is gone for every reader, dropped yet or not.
  if past_its_time(id, now, age) then return {} end
  local f = redis.call('HMGET', dead, 'r:' .. id, 't:' .. id)
  local reason = f[1] or ''
  -- A reason is the core's text; one planted by hand is cut to the limit.
  if #reason > max then reason = string.sub(reason, 1, max) end
  return {'F', '', reason, f[2] or ''}
end
local at = redis.call('ZSCORE', succeeded, id)
local remembered = at and tonumber(at) >= now - ttl
local kept = kept_result(id, now, max)
if kept then
  if kept[4] == '' then kept[4] = at or '' end
  return kept
end
if remembered then return {'S', '', '', at} end
return {}
""",
)

#: ARGV: now, status_ttl, offset, limit, max_payload_bytes, max_task_id_bytes.
#: Returns (id, kind, result, reason, acked at) flattened, for the succeeded
#: tasks status() says SUCCESS for, newest first (equal times: the greater id
#: first, as ZREVRANGEBYSCORE orders them); kind as FINISHED says it.
SUCCEEDED = _script(
    "succeeded",
    "succeeded results result_expiry members receipts",
    """
local now = clock()
local ttl = ttl_arg(ARGV[2])
local offset = whole(ARGV[3], 'offset', 0)
local limit = whole(ARGV[4], 'limit', 1)
local max = whole(ARGV[5], 'max_payload_bytes', 0)
local max_id = whole(ARGV[6], 'max_task_id_bytes', 1)
local horizon = fmt(now - ttl)
-- An id pushed again keeps its old score until it finishes again, but status()
-- no longer calls it SUCCESS: skipped, and not counted in the offset either.
local out, skip, want, start = {}, offset, limit, 0
local chunk = math.max(limit, 100)
while want > 0 do
  local page = redis.call('ZREVRANGEBYSCORE', succeeded, '+inf', horizon, 'WITHSCORES', 'LIMIT', start, chunk)
  for i = 1, #page, 2 do
    local id = page[i]
    if want > 0 and not live(id) then
      if skip > 0 then
        skip = skip - 1
      else
        local kept = kept_result(id, now, max) or {'S', '', ''}
        for _, field in ipairs({cut_id(id, max_id), kept[1], kept[2], kept[3], page[i + 1]}) do
          out[#out + 1] = field
        end
        want = want - 1
      end
    end
  end
  if #page < chunk * 2 then break end
  start = start + chunk
end
return out
""",
)

#: ARGV: now. Returns 0 when a task is due now (waiting, or a lease ended);
#: else milliseconds until the next delayed task or lease deadline, or -1 when
#: there is none. Changes nothing: a waiter on several queues asks it first.
DUE = _script(
    "due",
    "pending leases",
    """
local now = clock()
local nxt = false
local p = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
if #p > 0 then nxt = tonumber(p[2]) end
local l = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
if #l > 0 and (not nxt or tonumber(l[2]) < nxt) then nxt = tonumber(l[2]) end
if not nxt then return -1 end
if nxt <= now then return 0 end
return math.max(math.ceil((nxt - now) * 1000), 1)
""",
)

#: Every script, for tests and tools that want to go through them all.
SCRIPTS = (
    PUSH,
    PUSH_MANY,
    RESERVE,
    ACK,
    RELEASE,
    EXTEND,
    DEAD_LETTER,
    GET,
    PEEK,
    CANCEL,
    STATUS,
    LEN,
    DEAD_LETTERS,
    REQUEUE,
    COUNTS,
    TASKS,
    DELETE_DEAD,
    PURGE_DEAD,
    REQUEUE_ALL,
    FINISHED,
    SUCCEEDED,
    DUE,
)


# -- the live workers' registry ---------------------------------------------------

_WORKER_PRELUDE = r"""
-- Drops the records past their time, and then the oldest beyond the cap: the
-- registry never grows without bound. A record whose expiry is not a number
-- (written by hand) is dropped too.
local function drop(id)
  redis.call('HDEL', records, 'r:' .. id, 'e:' .. id, 'n:' .. id)
  redis.call('ZREM', beats, id)
  -- The last one gone: the counter (and anything planted) goes too.
  if redis.call('EXISTS', beats) == 0 then redis.call('DEL', records) end
end
-- Every id, oldest heartbeat first; equal times (one fake clock) in the order
-- the heartbeats came, by their sequence number.
local function ordered()
  local flat = redis.call('ZRANGE', beats, 0, -1, 'WITHSCORES')
  local list = {}
  for i = 1, #flat, 2 do
    local n = tonumber(redis.call('HGET', records, 'n:' .. flat[i]) or '') or 0
    list[#list + 1] = {id = flat[i], at = tonumber(flat[i + 1]), n = n}
  end
  table.sort(list, function(a, b)
    if a.at ~= b.at then return a.at < b.at end
    return a.n < b.n
  end)
  return list
end
local function sweep(now, cap, all)
  local ids = redis.call('ZRANGE', beats, 0, all and -1 or __SWEEP__ - 1)
  for _, id in ipairs(ids) do
    local at = tonumber(redis.call('HGET', records, 'e:' .. id) or '')
    if at == nil or at ~= at or at <= now then drop(id) end
  end
  local over = redis.call('ZCARD', beats) - cap
  if over > 0 then
    local list = ordered()
    for i = 1, over do drop(list[i].id) end
  end
end
"""


def _worker_script(name: str, body: str) -> Script:
    """A script of the registry: its two keys as locals, the helpers it uses."""
    helpers = "\n".join(
        source for key, source in _DEFINITIONS if key in ("fail", "finite", "whole", "clock", "fmt", "int")
    )
    if "utf8" in body:
        helpers += "\n" + "\n".join(source for key, source in _DEFINITIONS if key in ("UTF8", "utf8"))
    source = f"local records, beats = KEYS[1], KEYS[2]\n{helpers}\n{_WORKER_PRELUDE}\n{body}"
    for constant, value in {
        "SWEEP": WORKER_SWEEP,
        "RESULT_GRACE": RESULT_GRACE,
        "NET_CAP": NET_CAP_MS,
    }.items():
        source = source.replace(f"__{constant}__", str(value))
    return Script(name, ("records", "beats"), source)


#: Expired worker records dropped at most per heartbeat.
WORKER_SWEEP = 100

#: ARGV: now, worker_id, record, ttl, max_workers. Writes the record, drops the
#: expired and the oldest over the cap, and keeps a native expiry a day past
#: the TTL as a safety net. Returns 1.
HEARTBEAT = _worker_script(
    "heartbeat",
    """
local now = clock()
local id = ARGV[2]
local ttl = finite(ARGV[4], 'ttl')
if ttl < 0 then ttl = 0 end
local cap = whole(ARGV[5], 'max_workers', 0)
-- The tie-break of equal heartbeat times; a counter written by hand restarts.
local last = redis.call('HGET', records, 'seq') or ''
if #last > 15 or not string.find(last, '^%d+$') then last = '0' end
local n = tonumber(last) + 1
redis.call('HSET', records, 'seq', int(n))
redis.call('HSET', records, 'r:' .. id, ARGV[3], 'e:' .. id, fmt(now + ttl), 'n:' .. id, int(n))
redis.call('ZADD', beats, fmt(now), id)
sweep(now, cap, false)
local ms = int(math.min(math.ceil((ttl + __RESULT_GRACE__) * 1000), __NET_CAP__))
for _, key in ipairs({records, beats}) do
  local left = redis.call('PTTL', key)
  if left == -1 or (left >= 0 and left < tonumber(ms)) then redis.call('PEXPIRE', key, ms) end
end
return 1
""",
)

#: ARGV: worker_id. Returns 1 if it had a record, else 0.
FORGET_WORKER = _worker_script(
    "forget_worker",
    """
local id = ARGV[1]
local had = redis.call('ZSCORE', beats, id) or redis.call('HEXISTS', records, 'r:' .. id) == 1
drop(id)
if had then return 1 end
return 0
""",
)

#: ARGV: now, max_payload_bytes, max_workers. Drops the expired records, then
#: returns (id, record) flattened, oldest heartbeat first; a record over the
#: limit, or an id or record that is not UTF-8, is skipped (never sent).
WORKER_RECORDS = _worker_script(
    "worker_records",
    """
local now = clock()
local max = whole(ARGV[2], 'max_payload_bytes', 0)
local cap = whole(ARGV[3], 'max_workers', 0)
sweep(now, cap, true)
local out = {}
for _, entry in ipairs(ordered()) do
  local id = entry.id
  local field = 'r:' .. id
  if #id <= max and utf8(id) and redis.call('HSTRLEN', records, field) <= max then
    local record = redis.call('HGET', records, field)
    if record and utf8(record) then
      out[#out + 1] = id
      out[#out + 1] = record
    end
  end
end
return out
""",
)

#: The registry's scripts.
WORKER_SCRIPTS = (HEARTBEAT, FORGET_WORKER, WORKER_RECORDS)
