-- The peek script.
-- ARGV: now, id, max_payload_bytes. Returns the payload of a waiting, delayed
-- or reserved task, or nil; changes nothing.
-- KEYS: members receipts payloads
-- include: arguments.lua
-- include: leases.lua
-- include: records.lua

clock()
local id = ARGV[2]
local max = whole(ARGV[3], 'max_payload_bytes', 0)
if not live(id) then return false end
local payload = readable(id, max)
return payload
