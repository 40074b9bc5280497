-- The dead_letters script.
-- ARGV: now, limit, max_payload_bytes, max_task_id_bytes, max_dead_letters,
-- dead_letter_ttl. Drops the letters past their time first (retention), then
-- returns (id, payload, reason, attempts, failed_at) flattened, oldest first;
-- a payload or an id over its limit is cut to it; attempts and failed_at are
-- numbers (0 when the stored field is not one).
-- KEYS: dead_order dead failed
-- include: arguments.lua
-- include: retention.lua
-- include: records.lua

local now = clock()
local limit = whole(ARGV[2], 'limit', 1)
local max = whole(ARGV[3], 'max_payload_bytes', 0)
local max_id = whole(ARGV[4], 'max_task_id_bytes', 1)
keep_args(ARGV[5], ARGV[6])
retain(now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, limit - 1)) do
  local payload = redis.call('HGET', dead, 'p:' .. id) or ''
  if #payload > max then payload = string.sub(payload, 1, max) end
  local f = redis.call('HMGET', dead, 'r:' .. id, 'a:' .. id, 't:' .. id)
  local count = f[2]
  if not (count and #count <= 15 and string.find(count, '^%d+$')) then count = '0' end
  local at = tonumber(f[3] or '0')
  if at == nil or at ~= at or at == math.huge or at == -math.huge then at = 0 end
  out[#out + 1] = cut_id(id, max_id)
  out[#out + 1] = payload
  out[#out + 1] = f[1] or ''
  out[#out + 1] = count
  out[#out + 1] = fmt(at)
end
return out
