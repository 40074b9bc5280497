-- Checking a script's arguments, reading the clock, formatting numbers.
-- Shared helpers, pulled into a script by its `-- include: arguments.lua` line.

-- Arguments are checked before the first write: a script that fails half-way is
-- not rolled back, and a task must never be left in no structure at all.
local function fail(message) error({err = 'ERR alligator: ' .. message}) end
local function finite(value, what)
  local x = tonumber(value)
  if x == nil or x ~= x or x == math.huge or x == -math.huge then
    fail(what .. ' must be a finite number, not ' .. tostring(value))
  end
  return x
end
local function whole(value, what, least)
  local x = finite(value, what)
  if x ~= math.floor(x) or x < least then fail(what .. ' must be a whole number >= ' .. least) end
  return x
end
-- How long statuses are kept: may be infinite (kept for ever), never NaN or negative.
local function ttl_arg(value, what)
  local x = tonumber(value)
  if x == nil or x ~= x or x < 0 then
    fail((what or 'status_ttl') .. ' must be a number >= 0, not ' .. tostring(value))
  end
  return x
end
local function clock()
  if ARGV[1] ~= '' then return finite(ARGV[1], 'now') end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- Scores go out with every digit: Lua's own number format keeps only 14, and a
-- rounded score could put a task due now a hair in the future.
local function fmt(x) return string.format('%.17g', x) end
local function int(x) return string.format('%d', x) end
