-- The ack script.
-- ARGV: now, status_ttl, then (id, receipt, result_ttl, result) groups;
-- result_ttl is empty when no result is kept (result is then empty too).
-- Returns how many were acked. Acks and results of the whole batch are one
-- script: one round trip, and a result is kept exactly when its ack takes
-- effect. The ids acked are published on the done channel, in one message.
-- Each command is sent once for the whole batch (batch.lua): the checks read
-- every receipt first, then the writes touch every acked id together.
-- KEYS: receipts leases payloads attempts failures succeeded failed results result_expiry done priorities
-- include: arguments.lua
-- include: pending.lua
-- include: leases.lua
-- include: results.lua
-- include: batch.lua

local now = clock()
local ttl = ttl_arg(ARGV[2])
if (#ARGV - 2) % 4 ~= 0 then fail('acks must come as (id, receipt, result_ttl, result)') end
-- Every result TTL is checked before the first write.
local keep_for = {}
local asked = {}
for i = 3, #ARGV, 4 do
  if ARGV[i + 2] ~= '' then
    local seconds = finite(ARGV[i + 2], 'result_ttl')
    if seconds < 0 then seconds = 0 end
    keep_for[i] = seconds
  end
  asked[#asked + 1] = ARGV[i]
end
local nowf = fmt(now)
local had_results = redis.call('EXISTS', result_expiry) == 1
local stored = each_chunk('HMGET', receipts, asked)
-- A receipt holds only while its lease has not ended (see leases.lua's holds);
-- an id twice in one batch is acked once, as acking it one by one would.
local acked, ids, seen, longest = 0, {}, {}, false
local kept, kept_expiry, dropped = {}, {}, {}
local scored = {}
for n = 1, #asked do
  local i = 1 + 2 * n + 2 * (n - 1) -- ARGV index of the n-th group
  local id = asked[n]
  if not seen[id] and stored[n] == ARGV[i + 1] then
    local deadline = redis.call('ZSCORE', leases, id)
    if deadline ~= false and tonumber(deadline) > now then
      seen[id] = true
      ids[#ids + 1] = id
      scored[#scored + 1] = nowf
      scored[#scored + 1] = id
      acked = acked + 1
      local seconds = keep_for[i]
      if seconds then
        -- A result replaces any older one of the same id.
        kept[#kept + 1] = 'v:' .. id
        kept[#kept + 1] = ARGV[i + 3]
        kept[#kept + 1] = 't:' .. id
        kept[#kept + 1] = nowf
        kept_expiry[#kept_expiry + 1] = fmt(now + seconds)
        kept_expiry[#kept_expiry + 1] = id
        if not longest or seconds > longest then longest = seconds end
      elseif had_results then
        -- An earlier run's result is not this run's.
        dropped[#dropped + 1] = id
      end
    end
  end
end
if acked > 0 then
  each_chunk('HDEL', receipts, ids)
  each_chunk('ZREM', leases, ids)
  each_chunk('HDEL', payloads, ids)
  each_chunk('HDEL', attempts, ids)
  each_chunk('HDEL', failures, ids)
  if redis.call('EXISTS', priorities) == 1 then each_chunk('HDEL', priorities, ids) end
  each_chunk('ZADD', succeeded, scored)
  -- A push does not clear an old status (status looks at live states
  -- first); a finish replaces it.
  each_chunk('ZREM', failed, ids)
  if #kept > 0 then
    each_chunk('HSET', results, kept)
    each_chunk('ZADD', result_expiry, kept_expiry)
  end
  if #dropped > 0 then
    local fields = {}
    for _, id in ipairs(dropped) do
      fields[#fields + 1] = 'v:' .. id
      fields[#fields + 1] = 't:' .. id
    end
    each_chunk('HDEL', results, fields)
    each_chunk('ZREM', result_expiry, dropped)
  end
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
