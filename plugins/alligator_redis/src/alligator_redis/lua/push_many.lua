-- The push_many script.
-- ARGV: now, then (id, payload) pairs when every delay is 0, else (id, payload,
-- delay) triples; ARGV[2] says which ("2" or "3"). Returns how many were added.
-- A few commands per batch, not per task: one HMGET finds the ids taken
-- already, then one HSET, ZADD and HSET write the rest.
-- KEYS: payloads members pending seq wake dead_order work ranked_pending ranked priorities
-- include: arguments.lua
-- include: pending.lua

local now = clock()
local width = tonumber(ARGV[2])
if width ~= 2 and width ~= 3 then fail('width must be 2 or 3') end
if (#ARGV - 2) % width ~= 0 then fail('items must come in groups of ' .. width) end
local ids, delays = {}, {}
for i = 3, #ARGV, width do
  ids[#ids + 1] = ARGV[i]
  local delay = 0
  if width == 3 then delay = finite(ARGV[i + 2], 'delay') end
  if delay < 0 then delay = 0 end
  delays[#delays + 1] = delay
end
if #ids == 0 then return 0 end
local present = redis.call('HMGET', payloads, unpack(ids))
local seen = {}
local count = 0
for k, id in ipairs(ids) do
  if not present[k] and redis.call('ZSCORE', dead_order, id) then present[k] = true end
  if not present[k] and not seen[id] then
    seen[id] = true
    count = count + 1
  end
end
if count == 0 then return 0 end
local was_due = any_due(now)
-- One INCRBY reserves a run of sequence numbers for the whole batch.
local first_seq = next_seq(count) - count
local new_payloads, scores, new_members = {}, {}, {}
local due_now, n = 0, 0
seen = {}
for k, id in ipairs(ids) do
  if not present[k] and not seen[id] then
    seen[id] = true
    local delay = delays[k]
    if delay == 0 then due_now = due_now + 1 end
    n = n + 1
    local member = string.format('%016d:', first_seq + n) .. id
    new_payloads[#new_payloads + 1] = id
    new_payloads[#new_payloads + 1] = ARGV[3 + (k - 1) * width + 1]
    new_members[#new_members + 1] = id
    new_members[#new_members + 1] = member
    scores[#scores + 1] = fmt(now + delay)
    scores[#scores + 1] = member
  end
end
redis.call('HSET', payloads, unpack(new_payloads))
redis.call('ZADD', pending, unpack(scores))
redis.call('HSET', members, unpack(new_members))
if due_now > 0 and not was_due then wake_up(due_now) end
return n
