-- The limit_extend script: a held slot's lease set to end lease_seconds from now.
-- ARGV: now, holder, lease_seconds, key. Returns 1, or 0 when the holder held no
-- slot whose lease had not ended (nothing changes).
-- KEYS: slots lim index
-- include: arguments.lua
-- include: limit_keys.lua

local now = clock()
local lease = finite(ARGV[3], 'lease_seconds')
if lease <= 0 then fail('lease_seconds must be above 0') end
if redis.call('TYPE', slots).ok ~= 'zset' then return 0 end
local ends = tonumber(redis.call('ZSCORE', slots, ARGV[2]))
if ends == nil or ends <= now or ends > now + __LIMIT_HORIZON__ then return 0 end
own(index, 'zset')
redis.call('ZADD', slots, fmt(now + lease), ARGV[2])
local longest = last_end(slots, now)
keep(slots, longest)
if redis.call('TYPE', lim).ok == 'string' then keep(lim, longest) end
listed('concurrency:' .. ARGV[4], now + longest)
return 1
