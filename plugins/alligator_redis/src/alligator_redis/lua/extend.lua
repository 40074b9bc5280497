-- The extend script.
-- ARGV: now, lease_seconds, then (id, receipt) pairs. Returns one 1/0 per pair.
-- KEYS: receipts leases
-- include: arguments.lua
-- include: leases.lua

local now = clock()
local deadline = fmt(now + finite(ARGV[2], 'lease_seconds'))
if (#ARGV - 2) % 2 ~= 0 then fail('ids and receipts must come in pairs') end
local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local kept = 0
  if holds(id, ARGV[i + 1], now) then
    local score = redis.call('ZSCORE', leases, id)
    if score and tonumber(score) > now then
      redis.call('ZADD', leases, deadline, id)
      kept = 1
    end
  end
  out[#out + 1] = kept
end
return out
