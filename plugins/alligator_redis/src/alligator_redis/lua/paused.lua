-- The paused script.
-- ARGV: the longest member in bytes, the most of each kind. Returns the
-- members of the known kinds, skipping (never sending) one too long or not UTF-8.
-- KEYS: pauses
-- include: arguments.lua
-- include: utf8.lua

local longest = whole(ARGV[1], 'longest', 0)
local most = whole(ARGV[2], 'most', 0)
local out = {}
for _, kind in ipairs({'function', 'queue'}) do
  local members = redis.call('ZRANGEBYLEX', pauses, '[' .. kind .. ':', '(' .. kind .. ';', 'LIMIT', 0, most)
  for _, member in ipairs(members) do
    if #member <= longest and utf8(member) then out[#out + 1] = member end
  end
end
return out
