-- The due script.
-- ARGV: now. Returns 0 when a task is due now (waiting, or a lease ended);
-- else milliseconds until the next delayed task or lease deadline, or -1 when
-- there is none. Changes nothing: a waiter on several queues asks it first.
-- KEYS: pending leases ranked_pending ranked priorities
-- include: arguments.lua

local now = clock()
local nxt = false
if redis.call('ZCARD', ranked) > 0 then return 0 end
local p = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
if #p > 0 then nxt = tonumber(p[2]) end
p = redis.call('ZRANGE', ranked_pending, 0, 0, 'WITHSCORES')
if #p > 0 and (not nxt or tonumber(p[2]) < nxt) then nxt = tonumber(p[2]) end
local l = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
if #l > 0 and (not nxt or tonumber(l[2]) < nxt) then nxt = tonumber(l[2]) end
if not nxt then return -1 end
if nxt <= now then return 0 end
return math.max(math.ceil((nxt - now) * 1000), 1)
