-- The sequence counter, the pending set and waking blocked workers.
-- Shared helpers, pulled into a script by its `-- include: pending.lua` line.
-- include: arguments.lua

-- Reserves n sequence numbers; returns the last. A fresh counter starts from
-- the server's time in microseconds (exact in a Lua number until year 2255).
-- A counter that is not a whole number exact in a Lua number (written by hand)
-- starts afresh too, never failing: INCRBY on it would stop the script after
-- earlier writes.
local function next_seq(n)
  local last = redis.call('GET', seq)
  if last and #last <= 16 and string.find(last, '^%d+$') and tonumber(last) < 2 ^ 53 - n then
    last = tonumber(last) + n
  else
    local t = redis.call('TIME')
    last = tonumber(t[1]) * 1000000 + tonumber(t[2]) + n
  end
  redis.call('SET', seq, int(last))
  return last
end
-- Puts a task back among the waiting ones: in pending, or in ranked_pending
-- when it has a priority other than 0 (it keeps it while reserved).
local function enqueue(id, due, number)
  local member = string.format('%016d:', number) .. id
  if redis.call('HEXISTS', priorities, id) == 1 then
    redis.call('ZADD', ranked_pending, fmt(due), member)
  else
    redis.call('ZADD', pending, fmt(due), member)
  end
  redis.call('HSET', members, id, member)
end
-- Is any task due now? Workers block only when none is, so a push or release
-- needs to wake one only then; the worker it wakes passes the baton on.
local function any_due(now)
  local first = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
  if #first > 0 and tonumber(first[2]) <= now then return true end
  if redis.call('ZCARD', ranked) > 0 then return true end
  first = redis.call('ZRANGE', ranked_pending, 0, 0, 'WITHSCORES')
  return #first > 0 and tonumber(first[2]) <= now
end
local function wake_up(tokens)
  local room = __WAKE_CAP__ - redis.call('LLEN', wake)
  if tokens > room then tokens = room end
  for _ = 1, tokens do redis.call('LPUSH', wake, '1') end
  -- Waiters on several queues of a Redis Cluster cannot BLPOP keys of several
  -- slots: they subscribe to the queues' work channels instead.
  redis.call('PUBLISH', work, '1')
end
local function trim(statuses, now, ttl)
  redis.call('ZREMRANGEBYSCORE', statuses, '-inf', '(' .. fmt(now - ttl))
end
