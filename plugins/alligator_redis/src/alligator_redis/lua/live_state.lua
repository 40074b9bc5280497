-- A live task's state, as the status script reports it.
-- Shared helpers, pulled into a script by its `-- include: live_state.lua` line.
-- Returns WAITING, DELAYED or RUNNING, or nil when the id is not live.
local function live_state(id, now)
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
  return nil
end
