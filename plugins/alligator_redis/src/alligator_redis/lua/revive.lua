-- Putting a dead letter back in the queue.
-- Shared helpers, pulled into a script by its `-- include: revive.lua` line.
-- include: pending.lua
-- include: leases.lua

-- Puts a dead letter back at the end of the queue, due now, its counts reset;
-- false (changing nothing) when it is not a dead letter or its id is live.
local function revive(id, now)
  if not redis.call('ZSCORE', dead_order, id) or live(id) then return false end
  redis.call('HSET', payloads, id, redis.call('HGET', dead, 'p:' .. id) or '')
  -- It keeps its priority (as stored: reserve buries one that is no priority).
  local priority = redis.call('HGET', dead, 'y:' .. id)
  redis.call('HDEL', priorities, id)
  if priority then redis.call('HSET', priorities, id, priority) end
  redis.call('HDEL', dead, 'p:' .. id, 'r:' .. id, 'a:' .. id, 't:' .. id, 'y:' .. id)
  redis.call('ZREM', dead_order, id)
  redis.call('ZREM', failed, id)
  redis.call('HDEL', attempts, id)
  redis.call('HDEL', failures, id)
  enqueue(id, now, next_seq(1))
  return true
end
