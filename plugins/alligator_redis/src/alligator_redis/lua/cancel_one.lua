-- Cancelling one waiting or delayed task: the body of cancel.lua, shared
-- with unique_push.lua (a debounced task's replacement).
-- Shared helpers, pulled into a script by its `-- include: cancel_one.lua` line.
-- Needs arguments.lua and leases.lua. Returns 1 if cancelled, else 0.
local function cancel_one(id, now)
  local member = redis.call('HGET', members, id)
  if member then
    redis.call('ZREM', pending, member)
    redis.call('ZREM', ranked_pending, member)
    redis.call('ZREM', ranked, member)
    redis.call('HDEL', ranked_due, id)
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
  redis.call('HDEL', priorities, id)
  -- A status left from an earlier run of the same id must not outlive the cancel.
  redis.call('ZREM', succeeded, id)
  redis.call('ZREM', failed, id)
  redis.call('HDEL', results, 'v:' .. id, 't:' .. id)
  redis.call('ZREM', result_expiry, id)
  return 1
end
