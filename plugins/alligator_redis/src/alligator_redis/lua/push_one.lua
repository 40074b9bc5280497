-- Pushing one task: the body of push.lua, shared with unique_push.lua.
-- Shared helpers, pulled into a script by its `-- include: push_one.lua` line.
-- Needs arguments.lua. Returns 1 if added, 0 if the id is taken (waiting,
-- delayed, reserved or a dead letter). Seven commands when the queue is busy
-- (ZSCORE, ZRANGE, HSETNX, INCR, ZADD, HSET; no ZRANGE for a delayed task),
-- three more to wake a worker when no task was due.
local function push_one(now, id, payload, delay)
  if delay < 0 then delay = 0 end
  if redis.call('ZSCORE', dead_order, id) then return 0 end
  -- Workers block only when no task is due, so only a push that makes the first
  -- due task wakes one (pending.lua's any_due); a delayed task wakes nobody.
  local wake_one = false
  if delay == 0 then
    local first = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
    wake_one = #first == 0 or tonumber(first[2]) > now
  end
  if redis.call('HSETNX', payloads, id, payload) == 0 then return 0 end
  -- The next sequence number, as pending.lua's next_seq(1) draws it, in one
  -- command: the stored counter plus one; a fresh counter (INCR made it 1), or
  -- one that is no whole number exact in a Lua number (INCR refused it: not a
  -- number, or written by hand with leading zeros; or it passed 2^53 - 1), starts
  -- afresh from the server's time in microseconds. pcall: a refused INCR
  -- changes nothing, and must not stop the script after the write above.
  local number = redis.pcall('INCR', seq)
  if type(number) ~= 'number' or number < 2 or number > 2 ^ 53 - 1 then
    local t = redis.call('TIME')
    number = tonumber(t[1]) * 1000000 + tonumber(t[2]) + 1
    redis.call('SET', seq, int(number))
  end
  local member = string.format('%016d:', number) .. id
  redis.call('ZADD', pending, fmt(now + delay), member)
  redis.call('HSET', members, id, member)
  if wake_one then
    if redis.call('LLEN', wake) < __WAKE_CAP__ then redis.call('LPUSH', wake, '1') end
    -- Waiters on several queues of a Redis Cluster cannot BLPOP keys of several
    -- slots: they subscribe to the queues' work channels instead.
    redis.call('PUBLISH', work, '1')
  end
  return 1
end
