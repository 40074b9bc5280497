-- Receipts and leases.
-- Shared helpers, pulled into a script by its `-- include: leases.lua` line.
-- include: pending.lua

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
