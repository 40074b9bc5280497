-- The push script.
-- ARGV: now, id, payload, delay. Returns 1 if added, 0 if the id is taken
-- (waiting, delayed, reserved or a dead letter).
-- The hot path of every producer: push_one.lua's steps, one function; with
-- TIME when no clock is injected.
-- KEYS: payloads members pending seq wake dead_order work
-- include: arguments.lua
-- include: push_one.lua

local now = clock()
return push_one(now, ARGV[2], ARGV[3], finite(ARGV[4], 'delay'))
