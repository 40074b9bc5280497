-- The requeue_all script.
-- ARGV: now. Requeues every dead letter, in the order they failed, each as
-- requeue does; returns how many (a letter whose id is live stays).
-- KEYS: dead dead_order failed payloads attempts failures members receipts pending seq wake work ranked_pending ranked priorities
-- include: arguments.lua
-- include: pending.lua
-- include: revive.lua

local now = clock()
local was_due = any_due(now)
local count = 0
for _, id in ipairs(redis.call('ZRANGE', dead_order, 0, -1)) do
  if revive(id, now) then count = count + 1 end
end
if count > 0 and not was_due then wake_up(count) end
return count
