-- The set_paused script.
-- ARGV: member ("kind:name"), "1" to pause or "0" to resume, the most pauses
-- kept. Returns 1 if it changed anything, 0 if not, -1 (writing nothing) for a
-- pause past the cap.
-- KEYS: pauses
-- include: arguments.lua

local member = ARGV[1]
local cap = whole(ARGV[3], 'max_pauses', 0)
if ARGV[2] == '0' then return redis.call('ZREM', pauses, member) end
if redis.call('ZSCORE', pauses, member) then return 0 end
if redis.call('ZCARD', pauses) >= cap then return -1 end
return redis.call('ZADD', pauses, 0, member)
