-- The schedule_ticks script: one queue's schedule records.
-- ARGV: the longest name, the longest about (in bytes), the most records.
-- Returns (name, tick, about) flattened; a record whose name or about is too
-- long or not UTF-8, or whose tick or about is missing, is skipped (never sent).
-- KEYS: schedules
-- include: arguments.lua
-- include: utf8.lua

local longest = whole(ARGV[1], 'longest name', 0)
local max_about = whole(ARGV[2], 'longest about', 0)
local most = whole(ARGV[3], 'most', 0)
local out = {}
local cursor = '0'
repeat
  local page = redis.call('HSCAN', schedules, cursor, 'MATCH', 't:*', 'COUNT', 100)
  cursor = page[1]
  local fields = page[2]
  for i = 1, #fields, 2 do
    local name = string.sub(fields[i], 3)
    local about_field = 'a:' .. name
    if #name <= longest and utf8(name) and redis.call('HSTRLEN', schedules, about_field) <= max_about then
      local about = redis.call('HGET', schedules, about_field)
      if about and utf8(about) and #fields[i + 1] <= 40 then
        out[#out + 1] = name
        out[#out + 1] = fields[i + 1]
        out[#out + 1] = about
      end
    end
    if #out >= 3 * most then return out end
  end
until cursor == '0'
return out
