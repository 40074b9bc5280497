-- Dead-lettering a task that is in neither pending nor leases any more.
-- Shared helpers, pulled into a script by its `-- include: burial.lua` line.
-- include: pending.lua
-- include: leases.lua
-- include: retention.lua
-- include: results.lua
-- include: records.lua

-- Ends a task that is in neither pending nor leases any more: its payload moves
-- to the dead letters, with a reason and count deliveries, under the id as
-- (id itself unless it is too long to hand out).
local function bury(id, reason, now, ttl, count, as)
  as = as or id
  local nowf = fmt(now)
  local payload = redis.call('HGET', payloads, id) or ''
  redis.call('HSET', dead, 'p:' .. as, payload, 'r:' .. as, reason, 'a:' .. as, int(count), 't:' .. as, nowf)
  -- The letter keeps its task's priority for requeue, when it is a valid one.
  local priority = stored_priority(id)
  if priority and priority ~= 0 then
    redis.call('HSET', dead, 'y:' .. as, int(priority))
  else
    redis.call('HDEL', dead, 'y:' .. as)
  end
  redis.call('HDEL', priorities, id)
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
-- A delivery of a record no caller may have (count deliveries before it):
-- counted, and dead-lettered.
local function refuse(id, reason, now, ttl, count, as)
  unlease(id)
  bury(id, reason, now, ttl, count + 1, as)
end
