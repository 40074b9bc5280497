-- Delivering a due or expired record, or dead-lettering it alone with why.
-- Shared helpers, pulled into a script by its `-- include: delivery.lua` line.
-- include: leases.lua
-- include: records.lua
-- include: burial.lua

-- Takes a due or expired record out for a delivery: the reply's five fields
-- appended to out, or the record dead-lettered, alone, with why. Everything
-- about it is read and checked before its first write.
local function deliver(id, out, deadline, max, max_id, now, ttl)
  local count, failed_count = counters(id)
  if #id > max_id then
    local as = cut_id(id, max_id)
    if live(as) or redis.call('ZSCORE', dead_order, as) then
      -- Its cut id is another task's: a dead letter under it would overwrite
      -- that one, and no other id is the cut. The record is dropped.
      unlease(id)
      redis.call('HDEL', payloads, id)
      redis.call('HDEL', attempts, id)
      redis.call('HDEL', failures, id)
      return
    end
    local why = string.format(__TOO_LARGE__, __TASK_ID__, #id, max_id)
    refuse(id, why, now, ttl, count or 0, as)
    return
  end
  if not count then
    refuse(id, failed_count, now, ttl, 0)
    return
  end
  local payload, why = readable(id, max)
  if not payload then
    refuse(id, why, now, ttl, count)
    return
  end
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = lease(id, deadline, count + 1)
  out[#out + 1] = count + 1
  out[#out + 1] = failed_count
end
