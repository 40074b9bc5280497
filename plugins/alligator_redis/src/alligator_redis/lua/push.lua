-- The push script.
-- ARGV: now, id, payload, delay. Returns 1 if added, 0 if the id is taken
-- (waiting, delayed, reserved or a dead letter).
-- The hot path of every producer: five commands when the queue is busy.
-- KEYS: payloads members pending seq wake dead_order work
-- include: arguments.lua
-- include: pending.lua

local now = clock()
local id = ARGV[2]
local delay = finite(ARGV[4], 'delay')
if delay < 0 then delay = 0 end
if redis.call('ZSCORE', dead_order, id) then return 0 end
local was_due = any_due(now)
if redis.call('HSETNX', payloads, id, ARGV[3]) == 0 then return 0 end
enqueue(id, now + delay, next_seq(1))
if delay == 0 and not was_due then wake_up(1) end
return 1
