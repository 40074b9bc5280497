-- The worker_records script.
-- ARGV: now, max_payload_bytes, max_workers. Drops the expired records, then
-- returns (id, record) flattened, oldest heartbeat first; a record over the
-- limit, or an id or record that is not UTF-8, is skipped (never sent).
-- KEYS: records beats
-- include: arguments.lua
-- include: utf8.lua
-- include: workers.lua

local now = clock()
local max = whole(ARGV[2], 'max_payload_bytes', 0)
local cap = whole(ARGV[3], 'max_workers', 0)
sweep(now, cap, true)
local out = {}
for _, entry in ipairs(ordered()) do
  local id = entry.id
  local field = 'r:' .. id
  if #id <= max and utf8(id) and redis.call('HSTRLEN', records, field) <= max then
    local record = redis.call('HGET', records, field)
    if record and utf8(record) then
      out[#out + 1] = id
      out[#out + 1] = record
    end
  end
end
return out
