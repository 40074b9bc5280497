-- The reserve script.
-- ARGV: now, lease_seconds, limit, max_payload_bytes, status_ttl, max_task_id_bytes,
-- max_dead_letters, dead_letter_ttl.
-- Returns (id, payload, receipt, attempts, failures) flattened, oldest first;
-- or, when nothing is due, a single number: milliseconds until the next
-- delayed task or lease deadline (-1 when there is none; 0 when every due
-- record was dead-lettered as unreadable).
-- KEYS: pending members payloads attempts failures receipts leases seq succeeded failed dead dead_order wake results result_expiry done work
-- include: arguments.lua
-- include: pending.lua
-- include: retention.lua
-- include: delivery.lua

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
local due = redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'LIMIT', 0, limit)
if #due == 0 then
  -- Nothing is due at this instant, so every token in the list is stale.
  redis.call('DEL', wake)
  local nxt = false
  local p = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
  if #p > 0 then nxt = tonumber(p[2]) end
  local l = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  if #l > 0 and (not nxt or tonumber(l[2]) < nxt) then nxt = tonumber(l[2]) end
  if not nxt then return {-1} end
  return {math.ceil((nxt - now) * 1000)}
end
redis.call('ZREMRANGEBYRANK', pending, 0, #due - 1)
local deadline = fmt(now + lease_for)
local out = {}
for _, member in ipairs(due) do
  local id = string.sub(member, 18)
  redis.call('HDEL', members, id)
  deliver(id, out, deadline, max, max_id, now, ttl)
end
if #due == limit and #redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'LIMIT', 0, 1) > 0 then
  -- More is due than this worker took: pass the baton to a blocked one.
  wake_up(1)
end
if #out == 0 then return {0} end
return out
