-- The push_prioritized script.
-- ARGV: now, then (id, payload, delay, priority) groups. Returns how many were
-- added. push_many's steps, each task with its priority: one of 0 goes to
-- pending as push_many puts it; any other to ranked_pending, its priority in
-- priorities (reserve ranks it once due: ranked.lua).
-- KEYS: payloads members pending seq wake dead_order work ranked_pending ranked priorities
-- include: arguments.lua
-- include: pending.lua

local now = clock()
if (#ARGV - 1) % 4 ~= 0 then fail('items must come as (id, payload, delay, priority)') end
local ids, delays, ranks = {}, {}, {}
for i = 2, #ARGV, 4 do
  ids[#ids + 1] = ARGV[i]
  local delay = finite(ARGV[i + 2], 'delay')
  if delay < 0 then delay = 0 end
  delays[#delays + 1] = delay
  local priority = whole(ARGV[i + 3], 'priority', -100)
  if priority > 100 then fail('priority must be from -100 to 100') end
  ranks[#ranks + 1] = priority
end
if #ids == 0 then return 0 end
local present = redis.call('HMGET', payloads, unpack(ids))
local was_due = any_due(now)
local first_seq, n, due_now = nil, 0, 0
local seen = {}
for k, id in ipairs(ids) do
  if not present[k] and not seen[id] and not redis.call('ZSCORE', dead_order, id) then
    seen[id] = true
    first_seq = first_seq or next_seq(#ids) - #ids
    n = n + 1
    local member = string.format('%016d:', first_seq + n) .. id
    redis.call('HSET', payloads, id, ARGV[2 + (k - 1) * 4 + 1])
    if ranks[k] == 0 then
      redis.call('ZADD', pending, fmt(now + delays[k]), member)
    else
      redis.call('ZADD', ranked_pending, fmt(now + delays[k]), member)
      redis.call('HSET', priorities, id, int(ranks[k]))
    end
    redis.call('HSET', members, id, member)
    if delays[k] == 0 then due_now = due_now + 1 end
  end
end
if due_now > 0 and not was_due then wake_up(due_now) end
return n
