-- The ack script.
-- ARGV: now, status_ttl, then (id, receipt, result_ttl, result) groups;
-- result_ttl is empty when no result is kept (result is then empty too).
-- Returns how many were acked. Acks and results of the whole batch are one
-- script: one round trip, and a result is kept exactly when its ack takes
-- effect. The ids acked are published on the done channel, in one message.
-- KEYS: receipts leases payloads attempts failures succeeded failed results result_expiry done
-- include: arguments.lua
-- include: pending.lua
-- include: leases.lua
-- include: results.lua

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
