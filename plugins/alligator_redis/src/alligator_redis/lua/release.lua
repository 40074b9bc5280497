-- The release script.
-- ARGV: now, id, receipt, delay, attempted ("1" or "0"). Returns 1 or 0.
-- KEYS: receipts leases attempts failures pending members seq wake payloads dead dead_order succeeded failed results result_expiry done work ranked_pending ranked priorities
-- include: arguments.lua
-- include: pending.lua
-- include: leases.lua
-- include: records.lua
-- include: burial.lua

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
