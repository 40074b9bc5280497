-- The finished script.
-- ARGV: now, status_ttl, id, max_payload_bytes, dead_letter_ttl. Returns nothing when the task
-- is live or unknown; else (kind, result, reason, finished_at) with kind "R"
-- (succeeded, result handed out), "S" (succeeded, no result; reason says why
-- when one is kept but cannot be handed out) or "F" (a dead letter). A result
-- over the limit is measured, never read. Changes nothing.
-- KEYS: members receipts dead dead_order results result_expiry succeeded
-- include: arguments.lua
-- include: leases.lua
-- include: retention.lua
-- include: results.lua

local now = clock()
local ttl = ttl_arg(ARGV[2])
local id = ARGV[3]
local max = whole(ARGV[4], 'max_payload_bytes', 0)
local age = ttl_arg(ARGV[5], 'dead_letter_ttl')
if live(id) then return {} end
if redis.call('ZSCORE', dead_order, id) then
  -- Past its time a letter is gone for every reader, dropped yet or not.
  if past_its_time(id, now, age) then return {} end
  local f = redis.call('HMGET', dead, 'r:' .. id, 't:' .. id)
  local reason = f[1] or ''
  -- A reason is the core's text; one planted by hand is cut to the limit.
  if #reason > max then reason = string.sub(reason, 1, max) end
  return {'F', '', reason, f[2] or ''}
end
local at = redis.call('ZSCORE', succeeded, id)
local remembered = at and tonumber(at) >= now - ttl
local kept = kept_result(id, now, max)
if kept then
  if kept[4] == '' then kept[4] = at or '' end
  return kept
end
if remembered then return {'S', '', '', at} end
return {}
