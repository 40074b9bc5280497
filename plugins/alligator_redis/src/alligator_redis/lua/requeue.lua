-- The requeue script.
-- ARGV: now, id. Returns 1, or 0 when no dead letter has that id or (a record
-- written by hand) the id is live too: nothing is ever overwritten.
-- KEYS: dead dead_order failed payloads attempts failures members receipts pending seq wake work ranked_pending ranked priorities
-- include: arguments.lua
-- include: pending.lua
-- include: revive.lua

local now = clock()
local was_due = any_due(now)
if not revive(ARGV[2], now) then return 0 end
if not was_due then wake_up(1) end
return 1
