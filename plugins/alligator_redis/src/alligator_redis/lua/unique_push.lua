-- The unique push script: takes a key with the push, in one atomic step.
-- ARGV: now, id, payload, delay, key, mode, window. Returns {1, ""} when
-- pushed, {1, replaced_id} when pushed in place of a waiting debounced
-- holder, {0, holder_id} when the key is held, {0, ""} when the id is taken.
-- KEYS: payloads members pending seq wake dead_order work receipts leases attempts failures succeeded failed results result_expiry unique unique_ends ranked_pending ranked priorities ranked_due
-- include: arguments.lua
-- include: leases.lua
-- include: live_state.lua
-- include: push_one.lua
-- include: cancel_one.lua
-- include: unique_keys.lua

local now = clock()
local id, payload, key, mode = ARGV[2], ARGV[3], ARGV[5], ARGV[6]
local delay = finite(ARGV[4], 'delay')
local window = finite(ARGV[7], 'window')
if delay < 0 then delay = 0 end
sweep_unique(now)
local replaced = ''
local held_mode, until_, holder = unique_record(redis.call('HGET', unique, key))
if holder and key_holds(held_mode, holder, until_, now) then
  if mode ~= 'debounce' or held_mode ~= 'debounce' then return {0, holder} end
  -- Debounce: the waiting holder gives way, as cancel removes it.
  if cancel_one(holder, now) == 1 then replaced = holder end
end
if push_one(now, id, payload, delay) == 0 then return {0, ''} end
local ends = now + delay + window
redis.call('HSET', unique, key, mode .. '\t' .. fmt(ends) .. '\t' .. id)
redis.call('ZADD', unique_ends, fmt(ends), key)
return {1, replaced}
