"""The Lua scripts of the Redis backend: one script per multi-key step.

Every script touches only the keys of one queue, passed in ``KEYS``; they all
carry the queue's hash tag, so a script runs atomically on one node, even on
Redis Cluster. ``ARGV[1]`` of every script that needs the time is either
empty (use the server's ``TIME``) or a number (the backend's injected clock),
so one clock decides every due time and deadline.

Key layout of a queue ``Q`` (``{Q}`` is the hash tag)::

    alligator:{Q}:pending     zset   "<seq:16 digits>:<id>" -> due time (waiting and delayed)
    alligator:{Q}:members     hash   id -> its member in pending
    alligator:{Q}:payloads    hash   id -> payload (waiting, delayed or reserved)
    alligator:{Q}:attempts    hash   id -> deliveries so far
    alligator:{Q}:receipts    hash   id -> receipt of the current delivery (reserved)
    alligator:{Q}:leases      zset   id -> lease deadline (reserved)
    alligator:{Q}:seq         string counter: FIFO tie-breaks and receipts
    alligator:{Q}:succeeded   zset   id -> acked at (trimmed after status_ttl)
    alligator:{Q}:failed      zset   id -> dead-lettered at (trimmed after status_ttl)
    alligator:{Q}:dead        hash   "p:<id>" payload, "r:<id>" reason, "a:<id>" attempts,
                                     "t:<id>" failed at
    alligator:{Q}:dead_order  zset   id -> seq (dead letters, oldest first)
    alligator:{Q}:wake        list   wake-up tokens for workers blocked in reserve

Why a sequence number in front of each ``pending`` member: a sorted set
orders equal scores by member, so the zero-padded sequence makes tasks with
the same due time (a batch pushed in one script) come out in push order.
"""

from __future__ import annotations

from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING

#: At most this many wake-up tokens wait in a queue's ``wake`` list, enough to
#: start that many blocked workers at once; reserve passes the baton on.
WAKE_CAP = 16
#: Expired leases moved back to ``pending`` by one reserve call.
RECLAIM_LIMIT = 1000

_PRELUDE = """
local function clock()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- Scores go out with every digit: Lua's own number format keeps only 14, and a
-- rounded score could put a task due now a hair in the future.
local function fmt(x) return string.format('%.17g', x) end
local function enqueue(pending, members, seq, id, due)
  local member = string.format('%016d:', redis.call('INCR', seq)) .. id
  redis.call('ZADD', pending, fmt(due), member)
  redis.call('HSET', members, id, member)
end
-- Is any task due now? Workers block only when none is, so a push or release
-- needs to wake one only then; the worker it wakes passes the baton on.
local function any_due(pending, now)
  local first = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
  return #first > 0 and tonumber(first[2]) <= now
end
local function wake(list, tokens)
  local room = __WAKE_CAP__ - redis.call('LLEN', list)
  if tokens > room then tokens = room end
  for _ = 1, tokens do redis.call('LPUSH', list, '1') end
end
"""


def _script(body: str) -> str:
    return (_PRELUDE + body).replace("__WAKE_CAP__", str(WAKE_CAP))


#: KEYS: payloads, members, pending, seq, wake.
#: ARGV: now, id, payload, delay. Returns 1 if added, 0 if the id is queued already.
#: The hot path of every producer: five commands when the queue is busy.
PUSH = _script("""
local id = ARGV[2]
local now = clock()
local was_due = any_due(KEYS[3], now)
if redis.call('HSETNX', KEYS[1], id, ARGV[3]) == 0 then return 0 end
local delay = tonumber(ARGV[4])
if delay < 0 then delay = 0 end
enqueue(KEYS[3], KEYS[2], KEYS[4], id, now + delay)
if delay == 0 and not was_due then wake(KEYS[5], 1) end
return 1
""")

#: KEYS: payloads, members, pending, seq, wake.
#: ARGV: now, then (id, payload) pairs when every delay is 0, else (id, payload,
#: delay) triples; ARGV[2] says which ("2" or "3"). Returns how many were added.
#: A few commands per batch, not per task: one HMGET finds the ids queued
#: already, then one HSET, ZADD and HSET write the rest.
PUSH_MANY = _script("""
local now = clock()
local width = tonumber(ARGV[2])
local ids = {}
for i = 3, #ARGV, width do ids[#ids + 1] = ARGV[i] end
local present = redis.call('HMGET', KEYS[1], unpack(ids))
local seen = {}
local payloads, scores, members = {}, {}, {}
local due_now = 0
local n = 0
local first_seq = 0
local count = 0
for k, id in ipairs(ids) do
  if not present[k] and not seen[id] then
    seen[id] = true
    count = count + 1
  end
end
if count == 0 then return 0 end
local was_due = any_due(KEYS[3], now)
-- One INCRBY reserves a run of sequence numbers for the whole batch.
first_seq = redis.call('INCRBY', KEYS[4], count) - count
seen = {}
for k, id in ipairs(ids) do
  if not present[k] and not seen[id] then
    seen[id] = true
    local at = 3 + (k - 1) * width
    local delay = 0
    if width == 3 then delay = tonumber(ARGV[at + 2]) end
    if delay <= 0 then
      delay = 0
      due_now = due_now + 1
    end
    n = n + 1
    local member = string.format('%016d:', first_seq + n) .. id
    payloads[#payloads + 1] = id
    payloads[#payloads + 1] = ARGV[at + 1]
    members[#members + 1] = id
    members[#members + 1] = member
    scores[#scores + 1] = fmt(now + delay)
    scores[#scores + 1] = member
  end
end
redis.call('HSET', KEYS[1], unpack(payloads))
redis.call('ZADD', KEYS[3], unpack(scores))
redis.call('HSET', KEYS[2], unpack(members))
if due_now > 0 and not was_due then wake(KEYS[5], due_now) end
return n
""")

#: KEYS: pending, members, payloads, attempts, receipts, leases, seq, wake.
#: ARGV: now, lease_seconds, limit.
#: Returns (id, payload, receipt, attempts) flattened, oldest first; or, when
#: nothing is due, a single number: milliseconds until the next delayed task or
#: lease deadline (-1 when there is none).
RESERVE = _script("""
local now = clock()
local nowf = fmt(now)
-- Expired leases become due again, at their deadline: that is when they became due.
local expired = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, __RECLAIM__)
if #expired > 0 then
  for i = 1, #expired, 2 do
    local id = expired[i]
    enqueue(KEYS[1], KEYS[2], KEYS[7], id, tonumber(expired[i + 1]))
    redis.call('HDEL', KEYS[5], id)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[6], 0, #expired / 2 - 1)
end
local limit = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', nowf, 'LIMIT', 0, limit)
if #due == 0 then
  -- Nothing is due at this instant, so every token in the list is stale.
  redis.call('DEL', KEYS[8])
  local nxt = false
  local p = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #p > 0 then nxt = tonumber(p[2]) end
  local l = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  if #l > 0 and (not nxt or tonumber(l[2]) < nxt) then nxt = tonumber(l[2]) end
  if not nxt then return {-1} end
  return {math.ceil((nxt - now) * 1000)}
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #due - 1)
local deadline = fmt(now + tonumber(ARGV[2]))
local out = {}
for _, member in ipairs(due) do
  local id = string.sub(member, 18)
  redis.call('HDEL', KEYS[2], id)
  local payload = redis.call('HGET', KEYS[3], id)
  if payload then
    local receipt = tostring(redis.call('INCR', KEYS[7]))
    redis.call('HSET', KEYS[5], id, receipt)
    redis.call('ZADD', KEYS[6], deadline, id)
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = receipt
    out[#out + 1] = redis.call('HINCRBY', KEYS[4], id, 1)
  end
end
if #due == limit and #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', nowf, 'LIMIT', 0, 1) > 0 then
  -- More is due than this worker took: pass the baton to a blocked one.
  wake(KEYS[8], 1)
end
if #out == 0 then return {0} end
return out
""").replace("__RECLAIM__", str(RECLAIM_LIMIT))

#: KEYS: receipts, leases, payloads, attempts, succeeded, failed.
#: ARGV: now, status_ttl, then (id, receipt) pairs. Returns how many were acked.
ACK = _script("""
local now = clock()
local nowf = fmt(now)
local acked = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[1], id) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZADD', KEYS[5], nowf, id)
    -- A push does not clear an old status (status looks at live states
    -- first); a finish replaces it.
    redis.call('ZREM', KEYS[6], id)
    acked = acked + 1
  end
end
if acked > 0 then
  -- Forgetting old statuses here costs O(log n) per ack and needs no sweeper.
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. fmt(now - tonumber(ARGV[2])))
end
return acked
""")

#: KEYS: receipts, leases, attempts, pending, members, seq, wake.
#: ARGV: now, id, receipt, delay, attempted ("1" or "0"). Returns 1 or 0.
RELEASE = _script("""
local id = ARGV[2]
if redis.call('HGET', KEYS[1], id) ~= ARGV[3] then return 0 end
local now = clock()
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
if ARGV[5] == '0' then redis.call('HINCRBY', KEYS[3], id, -1) end
local delay = tonumber(ARGV[4])
if delay < 0 then delay = 0 end
local was_due = any_due(KEYS[4], now)
enqueue(KEYS[4], KEYS[5], KEYS[6], id, now + delay)
if delay == 0 and not was_due then wake(KEYS[7], 1) end
return 1
""")

#: KEYS: receipts, leases. ARGV: now, lease_seconds, then (id, receipt) pairs.
#: Returns one 1/0 per pair.
EXTEND = _script("""
local now = clock()
local deadline = fmt(now + tonumber(ARGV[2]))
local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local kept = 0
  if redis.call('HGET', KEYS[1], id) == ARGV[i + 1] then
    local score = redis.call('ZSCORE', KEYS[2], id)
    if score and tonumber(score) > now then
      redis.call('ZADD', KEYS[2], deadline, id)
      kept = 1
    end
  end
  out[#out + 1] = kept
end
return out
""")

#: KEYS: receipts, leases, payloads, attempts, dead, dead_order, failed, succeeded, seq.
#: ARGV: now, status_ttl, id, receipt, reason. Returns 1 or 0.
DEAD_LETTER = _script("""
local id = ARGV[3]
if redis.call('HGET', KEYS[1], id) ~= ARGV[4] then return 0 end
local now = clock()
local nowf = fmt(now)
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
local payload = redis.call('HGET', KEYS[3], id) or ''
local attempts = redis.call('HGET', KEYS[4], id) or '0'
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('HSET', KEYS[5], 'p:' .. id, payload, 'r:' .. id, ARGV[5], 'a:' .. id, attempts, 't:' .. id, nowf)
redis.call('ZADD', KEYS[6], redis.call('INCR', KEYS[9]), id)
redis.call('ZREM', KEYS[8], id)
redis.call('ZADD', KEYS[7], nowf, id)
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. fmt(now - tonumber(ARGV[2])))
return 1
""")

#: KEYS: members, pending, payloads, attempts, receipts, leases, seq.
#: ARGV: now, id, lease_seconds. Returns (id, payload, receipt, attempts) or nothing.
GET = _script("""
local id = ARGV[2]
local now = clock()
local member = redis.call('HGET', KEYS[1], id)
if member then
  redis.call('ZREM', KEYS[2], member)
  redis.call('HDEL', KEYS[1], id)
else
  -- A task whose lease ran out is waiting again, even before a reserve moves it.
  local deadline = redis.call('ZSCORE', KEYS[6], id)
  if not deadline or tonumber(deadline) > now then return {} end
end
local receipt = tostring(redis.call('INCR', KEYS[7]))
redis.call('HSET', KEYS[5], id, receipt)
redis.call('ZADD', KEYS[6], fmt(now + tonumber(ARGV[3])), id)
local attempts = redis.call('HINCRBY', KEYS[4], id, 1)
return {id, redis.call('HGET', KEYS[3], id) or '', receipt, attempts}
""")

#: KEYS: members, pending, payloads, attempts, receipts, leases, succeeded, failed.
#: ARGV: now, id. Returns 1 or 0.
CANCEL = _script("""
local id = ARGV[2]
local member = redis.call('HGET', KEYS[1], id)
if member then
  redis.call('ZREM', KEYS[2], member)
  redis.call('HDEL', KEYS[1], id)
else
  -- A task whose lease ran out is waiting again: it can be cancelled.
  local deadline = redis.call('ZSCORE', KEYS[6], id)
  if not deadline or tonumber(deadline) > clock() then return 0 end
  redis.call('ZREM', KEYS[6], id)
  redis.call('HDEL', KEYS[5], id)
end
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
-- A status left from an earlier run of the same id must not outlive the cancel.
redis.call('ZREM', KEYS[7], id)
redis.call('ZREM', KEYS[8], id)
return 1
""")

#: KEYS: receipts, leases, members, pending, succeeded, failed.
#: ARGV: now, status_ttl, id. Returns a status constant, or -1 for unknown.
STATUS = (
    _script("""
local id = ARGV[3]
local now = clock()
if redis.call('HEXISTS', KEYS[1], id) == 1 then
  local deadline = redis.call('ZSCORE', KEYS[2], id)
  -- A lease that ran out makes the task due again, even before a reserve moves it.
  if deadline and tonumber(deadline) <= now then return __WAITING__ end
  return __RUNNING__
end
local member = redis.call('HGET', KEYS[3], id)
if member then
  local due = redis.call('ZSCORE', KEYS[4], member)
  if due and tonumber(due) > now then return __DELAYED__ end
  return __WAITING__
end
local horizon = now - tonumber(ARGV[2])
local at = redis.call('ZSCORE', KEYS[5], id)
if at and tonumber(at) >= horizon then return __SUCCESS__ end
at = redis.call('ZSCORE', KEYS[6], id)
if at and tonumber(at) >= horizon then return __FAILED__ end
return -1
""")
    .replace("__WAITING__", str(WAITING))
    .replace("__RUNNING__", str(RUNNING))
    .replace("__DELAYED__", str(DELAYED))
    .replace("__SUCCESS__", str(SUCCESS))
    .replace("__FAILED__", str(FAILED))
)

#: KEYS: pending, leases. ARGV: now. Returns waiting + delayed + expired leases.
LEN = _script("""
return redis.call('ZCARD', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], '-inf', fmt(clock()))
""")

#: KEYS: dead_order, dead. ARGV: limit.
#: Returns (id, payload, reason, attempts, failed_at) flattened, oldest first.
DEAD_LETTERS = """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  local f = redis.call('HMGET', KEYS[2], 'p:' .. id, 'r:' .. id, 'a:' .. id, 't:' .. id)
  out[#out + 1] = id
  out[#out + 1] = f[1] or ''
  out[#out + 1] = f[2] or ''
  out[#out + 1] = f[3] or '0'
  out[#out + 1] = f[4] or '0'
end
return out
"""

#: KEYS: dead, dead_order, failed, payloads, attempts, members, pending, seq, wake.
#: ARGV: now, id. Returns 1 or 0.
REQUEUE = _script("""
local id = ARGV[2]
local payload = redis.call('HGET', KEYS[1], 'p:' .. id)
if not payload then return 0 end
local now = clock()
redis.call('HDEL', KEYS[1], 'p:' .. id, 'r:' .. id, 'a:' .. id, 't:' .. id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
-- The same id pushed again since: the dead letter replaces it.
local old = redis.call('HGET', KEYS[6], id)
if old then redis.call('ZREM', KEYS[7], old) end
redis.call('HSET', KEYS[4], id, payload)
redis.call('HDEL', KEYS[5], id)
local was_due = any_due(KEYS[7], now)
enqueue(KEYS[7], KEYS[6], KEYS[8], id, now)
if not was_due then wake(KEYS[9], 1) end
return 1
""")
