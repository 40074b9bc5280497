-- The limit_acquire script: one of a key's concurrency slots for the holder, if one is free.
-- ARGV: now, holder, limit, lease_seconds, key, waiter_seconds. Returns '0' if the
-- holder holds a slot now, else the seconds until the first held lease ends, as text.
-- KEYS: slots wait lim index
-- include: arguments.lua
-- include: limit_keys.lua

local now = clock()
local holder = ARGV[2]
local limit = whole(ARGV[3], 'limit', 1)
local lease = finite(ARGV[4], 'lease_seconds')
local waiter = finite(ARGV[6], 'waiter_seconds')
if lease <= 0 then fail('lease_seconds must be above 0') end
own(slots, 'zset')
own(wait, 'zset')
own(lim, 'string')
own(index, 'zset')
redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. fmt(now))
-- Ended leases free their slots; a lease further ahead than any could be is planted.
redis.call('ZREMRANGEBYSCORE', slots, '-inf', fmt(now))
redis.call('ZREMRANGEBYSCORE', slots, '(' .. fmt(now + __LIMIT_HORIZON__), '+inf')
redis.call('ZREMRANGEBYSCORE', wait, '-inf', fmt(now))
redis.call('SET', lim, int(limit))
local member = 'concurrency:' .. ARGV[5]
if redis.call('ZSCORE', slots, holder) or redis.call('ZCARD', slots) < limit then
  redis.call('ZADD', slots, fmt(now + lease), holder)
  redis.call('ZREM', wait, holder)
  local longest = last_end(slots, now)
  keep(slots, longest)
  keep(lim, math.max(longest, waiter))
  listed(member, now + longest)
  return '0'
end
redis.call('ZADD', wait, fmt(now + waiter), holder)
keep(wait, waiter)
keep(lim, math.max(last_end(slots, now), waiter))
listed(member, now + waiter)
local first = redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')
return fmt(math.max(tonumber(first[2]) - now, 0.000001))
