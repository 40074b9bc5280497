-- The held keys script: lists the keys of a queue held now.
-- ARGV: now, scan, max_bytes. Drops ended records first, then returns
-- (key, holder, mode, until) flattened for the records that still hold, among
-- the first `scan` by end time; a key or holder over max_bytes is skipped.
-- KEYS: receipts leases members pending unique unique_ends ranked_pending
-- include: arguments.lua
-- include: live_state.lua
-- include: unique_keys.lua

local now = clock()
local scan = whole(ARGV[2], 'scan', 1)
local max_bytes = whole(ARGV[3], 'max_bytes', 1)
sweep_unique(now)
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', unique_ends, '(' .. fmt(now), '+inf', 'LIMIT', 0, scan)) do
  local mode, until_, holder = unique_record(redis.call('HGET', unique, key))
  if holder and #key <= max_bytes and #holder <= max_bytes and key_holds(mode, holder, until_, now) then
    table.insert(out, key)
    table.insert(out, holder)
    table.insert(out, mode)
    table.insert(out, fmt(until_))
  end
end
return out
