-- The dead_letter script.
-- ARGV: now, status_ttl, id, receipt, reason, max_dead_letters, dead_letter_ttl.
-- Returns 1 or 0.
-- KEYS: receipts leases payloads attempts failures dead dead_order failed succeeded seq results result_expiry done ranked_pending ranked priorities
-- include: arguments.lua
-- include: leases.lua
-- include: retention.lua
-- include: records.lua
-- include: burial.lua

local now = clock()
local ttl = ttl_arg(ARGV[2])
keep_args(ARGV[6], ARGV[7])
local id = ARGV[3]
if not holds(id, ARGV[4], now) then return 0 end
-- A corrupt count is taken as 0: the reason the worker gives is kept.
local count = stored_count(attempts, id, 'attempts') or 0
unlease(id)
bury(id, ARGV[5], now, ttl, count)
return 1
