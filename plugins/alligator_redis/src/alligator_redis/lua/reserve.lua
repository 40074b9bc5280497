-- The reserve script.
-- ARGV: now, lease_seconds, limit, max_payload_bytes, status_ttl, max_task_id_bytes,
-- max_dead_letters, dead_letter_ttl.
-- Returns (id, payload, receipt, attempts, failures) flattened, oldest first;
-- or, when nothing is due, a single number: milliseconds until the next
-- delayed task or lease deadline (-1 when there is none; 0 when every due
-- record was dead-lettered as unreadable).
-- KEYS: pending members payloads attempts failures receipts leases seq succeeded failed dead dead_order wake results result_expiry done work ranked_pending ranked priorities ranked_due
-- include: arguments.lua
-- include: pending.lua
-- include: retention.lua
-- include: delivery.lua
-- include: batch.lua
-- include: ranked.lua

local now = clock()
local lease_for = finite(ARGV[2], 'lease_seconds')
local limit = whole(ARGV[3], 'limit', 1)
local max = whole(ARGV[4], 'max_payload_bytes', 0)
local ttl = ttl_arg(ARGV[5])
local max_id = whole(ARGV[6], 'max_task_id_bytes', 1)
keep_args(ARGV[7], ARGV[8])
local nowf = fmt(now)
-- Expired leases become due again, at their deadline: that is when they became due.
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, __RECLAIM__)
if #expired > 0 then
  local first = next_seq(#expired / 2) - #expired / 2
  for i = 1, #expired, 2 do
    local id = expired[i]
    enqueue(id, tonumber(expired[i + 1]), first + (i + 1) / 2)
    redis.call('HDEL', receipts, id)
  end
  redis.call('ZREMRANGEBYRANK', leases, 0, #expired / 2 - 1)
end
-- A queue that never held a task of another priority than 0 reads pending
-- alone, as it always did; otherwise ranked.lua takes by priority.
local due, from_ranked = nil, {}
if redis.call('EXISTS', ranked_pending, ranked) == 0 then
  due = redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'LIMIT', 0, limit)
  if #due > 0 then redis.call('ZREMRANGEBYRANK', pending, 0, #due - 1) end
else
  due, from_ranked = take_ranked(limit, now)
end
if #due == 0 then
  -- Nothing is due at this instant, so every token in the list is stale.
  redis.call('DEL', wake)
  local nxt = false
  local p = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
  if #p > 0 then nxt = tonumber(p[2]) end
  local l = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  if #l > 0 and (not nxt or tonumber(l[2]) < nxt) then nxt = tonumber(l[2]) end
  l = redis.call('ZRANGE', ranked_pending, 0, 0, 'WITHSCORES')
  if #l > 0 and (not nxt or tonumber(l[2]) < nxt) then nxt = tonumber(l[2]) end
  if not nxt then return {-1} end
  return {math.ceil((nxt - now) * 1000)}
end
local deadline = fmt(now + lease_for)
local ids = {}
for n, member in ipairs(due) do ids[n] = string.sub(member, 18) end
each_chunk('HDEL', members, ids)
-- Each command once for the batch (batch.lua): a record that reads as a
-- plain one (its counters whole numbers, its id and payload UTF-8 and
-- within the limits) is leased with the others; any other goes through
-- deliver() alone, which dead-letters it with why.
local counts = each_chunk('HMGET', attempts, ids)
local fails = each_chunk('HMGET', failures, ids)
-- A ranked task's priority is read again: one that is no priority goes
-- through deliver(), which buries it.
local ranks = {}
for _ in pairs(from_ranked) do
  ranks = each_chunk('HMGET', priorities, ids)
  break
end
local plain, wanted = {}, {}
for n, id in ipairs(ids) do
  local count, failed_count = counts[n] or '0', fails[n] or '0'
  local rank = ranks[n]
  if (not from_ranked[id] or (rank and #rank <= 4 and string.find(rank, '^%-?%d+$')
      and math.abs(tonumber(rank)) <= 100)) and #id <= max_id and #count <= 15 and #failed_count <= 15 and string.find(count, '^%d+$')
      and string.find(failed_count, '^%d+$') and utf8(id)
      and redis.call('HSTRLEN', payloads, id) <= max then
    plain[n] = {tonumber(count), tonumber(failed_count)}
    wanted[#wanted + 1] = id
  end
end
local bodies = each_chunk('HMGET', payloads, wanted)
local leased, first = 0, 0
for n, id in ipairs(wanted) do
  local body = bodies[n]
  if body and utf8(body) then leased = leased + 1 else bodies[n] = false end
end
if leased > 0 then first = next_seq(leased) - leased end
local out, receipts_set, deadlines, counts_set = {}, {}, {}, {}
local k, w = 0, 0
for n, id in ipairs(ids) do
  local body = false
  if plain[n] then
    w = w + 1
    body = bodies[w]
  end
  if body then
    k = k + 1
    local receipt = int(first + k)
    local count = plain[n][1] + 1
    out[#out + 1] = id
    out[#out + 1] = body
    out[#out + 1] = receipt
    out[#out + 1] = count
    out[#out + 1] = plain[n][2]
    receipts_set[#receipts_set + 1] = id
    receipts_set[#receipts_set + 1] = receipt
    deadlines[#deadlines + 1] = deadline
    deadlines[#deadlines + 1] = id
    counts_set[#counts_set + 1] = id
    counts_set[#counts_set + 1] = int(count)
  else
    deliver(id, out, deadline, max, max_id, now, ttl)
  end
end
if k > 0 then
  each_chunk('HSET', receipts, receipts_set)
  each_chunk('ZADD', leases, deadlines)
  each_chunk('HSET', attempts, counts_set)
end
if #due == limit and (#redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'LIMIT', 0, 1) > 0
    or redis.call('ZCARD', ranked) > 0) then
  -- More is due than this worker took: pass the baton to a blocked one.
  wake_up(1)
end
if #out == 0 then return {0} end
return out
