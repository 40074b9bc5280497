-- The status script.
-- ARGV: now, status_ttl, id, dead_letter_ttl. Returns a status constant, or -1
-- for unknown. Agrees with FINISHED: a dead letter is FAILED until its time is
-- past, a kept result SUCCESS until it expires, whatever status_ttl says.
-- KEYS: receipts leases members pending succeeded failed dead dead_order results result_expiry ranked_pending ranked priorities
-- include: arguments.lua
-- include: leases.lua
-- include: retention.lua

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
  -- Ranked tasks are due; the others wait for their score, their due time.
  local due = redis.call('ZSCORE', pending, member) or redis.call('ZSCORE', ranked_pending, member)
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
