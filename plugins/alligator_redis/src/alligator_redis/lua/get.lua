-- The get script.
-- ARGV: now, id, lease_seconds, max_payload_bytes, status_ttl, max_task_id_bytes,
-- max_dead_letters, dead_letter_ttl. Returns (id, payload, receipt, attempts,
-- failures), or nothing.
-- KEYS: members pending payloads attempts failures receipts leases seq succeeded failed dead dead_order results result_expiry done ranked_pending ranked priorities ranked_due
-- include: arguments.lua
-- include: leases.lua
-- include: retention.lua
-- include: delivery.lua

local now = clock()
local id = ARGV[2]
local lease_for = finite(ARGV[3], 'lease_seconds')
local max = whole(ARGV[4], 'max_payload_bytes', 0)
local ttl = ttl_arg(ARGV[5])
local max_id = whole(ARGV[6], 'max_task_id_bytes', 1)
keep_args(ARGV[7], ARGV[8])
local member = redis.call('HGET', members, id)
if member then
  redis.call('ZREM', pending, member)
  redis.call('ZREM', ranked_pending, member)
  redis.call('ZREM', ranked, member)
  redis.call('HDEL', ranked_due, id)
  redis.call('HDEL', members, id)
else
  -- A task whose lease ran out is waiting again, even before a reserve moves it.
  local deadline = redis.call('ZSCORE', leases, id)
  if not deadline or tonumber(deadline) > now then return {} end
end
local out = {}
deliver(id, out, fmt(now + lease_for), max, max_id, now, ttl)
return out
