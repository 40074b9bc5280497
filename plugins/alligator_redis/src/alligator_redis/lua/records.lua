-- Reading a record: its stored counters, checked before any write; its payload if a caller may have it; cut ids.
-- Shared helpers, pulled into a script by its `-- include: records.lua` line.
-- include: arguments.lua
-- include: utf8.lua

-- A stored value shown in a reason: short, printable ASCII, quoted.
local function shown(value)
  local s = string.gsub(string.sub(value, 1, 40), '[^\32-\126]', '?')
  if #value > 40 then s = s .. '...' end
  return "'" .. s .. "'"
end
-- A stored counter of id (absent: 0), or false and why the record is corrupt.
-- Only plain digits, few enough to be exact in a Lua number, are a count.
local function stored_count(hash, id, what)
  local value = redis.call('HGET', hash, id)
  if not value then return 0 end
  if #value <= 15 and string.find(value, '^%d+$') then return tonumber(value) end
  return false, string.format(__CORRUPT__, what, shown(value))
end
-- The stored priority of id (absent: 0), or false and why the record is
-- corrupt: a whole number from -100 to 100, as the core writes it.
local function stored_priority(id)
  local value = redis.call('HGET', priorities, id)
  if not value then return 0 end
  if #value <= 4 and string.find(value, '^%-?%d+$') then
    local priority = tonumber(value)
    if priority >= -100 and priority <= 100 then return priority end
  end
  return false, string.format(__CORRUPT__, 'priority', shown(value))
end
-- Both counters of id, checked before any write touches it: attempts and
-- failures, or false and why the record is corrupt (its priority too).
local function counters(id)
  local count, why = stored_count(attempts, id, 'attempts')
  if not count then return false, why end
  local failed_count, why_failures = stored_count(failures, id, 'failures')
  if not failed_count then return false, why_failures end
  local _, why_priority = stored_priority(id)
  if why_priority then return false, why_priority end
  return count, failed_count
end
-- The id a dead letter of id is stored under: id itself, or its first max bytes
-- when it is longer (an incomplete UTF-8 sequence cut at the end becomes
-- U+FFFD, as Python's decode with "replace" reads it).
local function cut_id(id, max)
  if #id <= max then return id end
  local cut = string.sub(id, 1, max)
  for tail = 1, 3 do
    local lead = string.byte(cut, #cut - tail + 1)
    if lead and lead >= 192 then
      local need = (lead >= 240 and 4) or (lead >= 224 and 3) or 2
      if need > tail then cut = string.sub(cut, 1, #cut - tail) .. '\239\191\189' end
      break
    end
    if not lead or lead < 128 then break end
  end
  return cut
end
-- The payload of id if a caller may have it; else false and why not. A payload
-- over the limit is measured, never read.
local function readable(id, max)
  if not utf8(id) then return false, string.format(__NOT_UTF8__, __TASK_ID__) end
  local size = redis.call('HSTRLEN', payloads, id)
  if size > max then return false, string.format(__TOO_LARGE__, __PAYLOAD__, size, max) end
  local payload = redis.call('HGET', payloads, id)
  if not payload then return false, string.format(__MISSING__, __PAYLOAD__) end
  if not utf8(payload) then return false, string.format(__NOT_UTF8__, __PAYLOAD__) end
  return payload
end
