-- The forget_worker script.
-- ARGV: worker_id. Returns 1 if it had a record, else 0.
-- KEYS: records beats
-- include: workers.lua

local id = ARGV[1]
local had = redis.call('ZSCORE', beats, id) or redis.call('HEXISTS', records, 'r:' .. id) == 1
drop(id)
if had then return 1 end
return 0
