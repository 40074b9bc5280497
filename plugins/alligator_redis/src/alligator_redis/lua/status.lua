-- The status script.
-- ARGV: now, status_ttl, id, dead_letter_ttl. Returns a status constant, or -1
-- for unknown. Agrees with FINISHED: a dead letter is FAILED until its time is
-- past, a kept result SUCCESS until it expires, whatever status_ttl says.
-- KEYS: receipts leases members pending succeeded failed dead dead_order results result_expiry ranked_pending
-- include: arguments.lua
-- include: leases.lua
-- include: retention.lua
-- include: live_state.lua

local now = clock()
local ttl = ttl_arg(ARGV[2])
local id = ARGV[3]
local age = ttl_arg(ARGV[4], 'dead_letter_ttl')
local state = live_state(id, now)
if state then return state end
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
