-- The purge_dead script.
-- No ARGV. Deletes every dead letter of the queue; returns how many.
-- KEYS: dead dead_order failed

local ids = redis.call('ZRANGE', dead_order, 0, -1)
for _, id in ipairs(ids) do redis.call('ZREM', failed, id) end
redis.call('DEL', dead, dead_order)
return #ids
