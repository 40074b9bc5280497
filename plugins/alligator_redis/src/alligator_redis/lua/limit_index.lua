-- The limit_index script: the members of the limits' index that may hold live state.
-- ARGV: now, the most to list. Returns the members ('rate:<key>' or
-- 'concurrency:<key>'), in byte order of their scores' ties, at most that many.
-- Changes nothing.
-- KEYS: index
-- include: arguments.lua

local now = clock()
local most = whole(ARGV[2], 'most', 1)
if redis.call('TYPE', index).ok ~= 'zset' then return {} end
return redis.call('ZRANGEBYSCORE', index, '(' .. fmt(now), '+inf', 'LIMIT', 0, most)
