-- The cancel script.
-- ARGV: now, id. Returns 1 or 0.
-- KEYS: members pending payloads attempts failures receipts leases succeeded failed results result_expiry ranked_pending ranked priorities ranked_due
-- include: arguments.lua
-- include: leases.lua
-- include: cancel_one.lua

return cancel_one(ARGV[2], clock())
