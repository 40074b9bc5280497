-- Dead-letter retention: at most max_dead_letters, none past dead_letter_ttl.
-- Shared helpers, pulled into a script by its `-- include: retention.lua` line.
-- include: arguments.lua

-- Dead-letter retention of this script: set from its arguments by keep_args
-- (a script that never sets it writes no dead letter).
local retention = {cap = false, age = false}
local function keep_args(cap, age)
  local seconds = tonumber(age)
  if seconds == nil or seconds ~= seconds or seconds < 0 then
    fail('dead_letter_ttl must be a number >= 0, not ' .. tostring(age))
  end
  retention.cap = whole(cap, 'max_dead_letters', 0)
  retention.age = seconds
end
-- Deletes one dead letter, and its FAILED status with it.
local function forget(id)
  if redis.call('ZREM', dead_order, id) == 0 then return 0 end
  redis.call('HDEL', dead, 'p:' .. id, 'r:' .. id, 'a:' .. id, 't:' .. id, 'y:' .. id)
  redis.call('ZREM', failed, id)
  return 1
end
-- Whether the dead letter id is past its time (dead_letter_ttl = age): gone for
-- every reader, dropped yet or not. A time that is not a number: kept.
local function past_its_time(id, now, age)
  local at = tonumber(redis.call('HGET', dead, 't:' .. id) or '')
  return at ~= nil and at == at and at < now - age
end
-- Drops the letters past their time (among the oldest), then the oldest over
-- the cap, so a flood of failing tasks cannot fill the server's memory. A
-- letter whose time is not a number (written by hand) is not dated: kept.
local function retain(now)
  if not retention.cap then return end
  local horizon = now - retention.age
  for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, __RETAIN_BATCH__ - 1)) do
    local at = tonumber(redis.call('HGET', dead, 't:' .. id) or '')
    if at == nil or at ~= at or at >= horizon then break end
    forget(id)
  end
  local over = redis.call('ZCARD', dead_order) - retention.cap
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, over - 1)) do forget(id) end
  end
end
