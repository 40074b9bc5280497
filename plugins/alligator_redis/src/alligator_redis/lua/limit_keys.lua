-- Shared helpers of the limit scripts (see alligator_redis/limits.py).
-- Anyone who can write to the server can plant a key of the wrong type under
-- a limit's name: it is deleted before use, so a limit never stops on it.

local function own(key, kind)
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= kind then redis.call('DEL', key) end
end
-- A native expiry as a safety net, never what decides: every time is in the data.
local function keep(key, seconds)
  redis.call('PEXPIRE', key, math.max(1, math.ceil(seconds * 1000)) + __LIMIT_GRACE_MS__)
end
-- Seconds from now until the last lease of a slots key ends (holders may have
-- leases of different lengths: the key must outlive the longest).
local function last_end(key, now)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] == nil then return 0 end
  return math.max(tonumber(last[2]) - now, 0)
end
-- The index lists a key while it may hold live state: its score only grows.
local function listed(member, until_time)
  local current = tonumber(redis.call('ZSCORE', index, member))
  if current == nil or current < until_time then redis.call('ZADD', index, fmt(until_time), member) end
end
