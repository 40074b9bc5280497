-- The live workers' registry: dropping records, oldest first, within the cap.
-- Shared helpers, pulled into a script by its `-- include: workers.lua` line.

-- Drops the records past their time, and then the oldest beyond the cap: the
-- registry never grows without bound. A record whose expiry is not a number
-- (written by hand) is dropped too.
local function drop(id)
  redis.call('HDEL', records, 'r:' .. id, 'e:' .. id, 'n:' .. id)
  redis.call('ZREM', beats, id)
  -- The last one gone: the counter (and anything planted) goes too.
  if redis.call('EXISTS', beats) == 0 then redis.call('DEL', records) end
end
-- Every id, oldest heartbeat first; equal times (one fake clock) in the order
-- the heartbeats came, by their sequence number.
local function ordered()
  local flat = redis.call('ZRANGE', beats, 0, -1, 'WITHSCORES')
  local list = {}
  for i = 1, #flat, 2 do
    local n = tonumber(redis.call('HGET', records, 'n:' .. flat[i]) or '') or 0
    list[#list + 1] = {id = flat[i], at = tonumber(flat[i + 1]), n = n}
  end
  table.sort(list, function(a, b)
    if a.at ~= b.at then return a.at < b.at end
    return a.n < b.n
  end)
  return list
end
local function sweep(now, cap, all)
  local ids = redis.call('ZRANGE', beats, 0, all and -1 or __SWEEP__ - 1)
  for _, id in ipairs(ids) do
    local at = tonumber(redis.call('HGET', records, 'e:' .. id) or '')
    if at == nil or at ~= at or at <= now then drop(id) end
  end
  local over = redis.call('ZCARD', beats) - cap
  if over > 0 then
    local list = ordered()
    for i = 1, over do drop(list[i].id) end
  end
end
