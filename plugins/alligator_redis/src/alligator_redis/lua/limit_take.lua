-- The limit_take script: one take of a key's rate, or the next free slot booked for the holder.
-- ARGV: now, holder, count, per, key. Returns the seconds to wait, as text ('0': go now).
-- The rule is alligator.limit_store.next_take (a GCRA), written again here.
-- KEYS: rate book index
-- include: arguments.lua
-- include: limit_keys.lua

local now = clock()
local holder = ARGV[2]
local count = whole(ARGV[3], 'count', 1)
local per = finite(ARGV[4], 'per')
if per <= 0 then fail('per must be above 0') end
own(rate, 'hash')
own(book, 'zset')
own(index, 'zset')
redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. fmt(now))
-- Bookings unused for a period past their slot are dropped; so are slots
-- further ahead than any take could book (planted).
redis.call('ZREMRANGEBYSCORE', book, '-inf', '(' .. fmt(now - per))
redis.call('ZREMRANGEBYSCORE', book, '(' .. fmt(now + __LIMIT_HORIZON__), '+inf')
local mine = tonumber(redis.call('ZSCORE', book, holder))
if mine ~= nil then
  if mine <= now then
    redis.call('ZREM', book, holder)
    return '0'
  end
  return fmt(mine - now)
end
local tat = tonumber(redis.call('HGET', rate, 'tat'))
if tat == nil or tat ~= tat or tat < now or tat > now + __LIMIT_HORIZON__ then tat = now end
local new = tat + per / count
local wait = new - per - now
if wait < 0 then wait = 0 end
redis.call('HSET', rate, 'tat', fmt(new), 'count', int(count), 'per', fmt(per))
keep(rate, new - now)
local live_until = new
if wait > 0 then
  redis.call('ZADD', book, fmt(now + wait), holder)
  keep(book, wait + per)
  live_until = math.max(new, now + wait)
end
listed('rate:' .. ARGV[5], live_until)
return fmt(wait)
