-- The limit_state script: what one key holds now, for the listing. Changes nothing.
-- ARGV: now, kind ('rate' or 'concurrency'). Returns (tat, count, per, waiting)
-- for a rate, or (limit, held, waiting) for concurrency; {} when
-- the keys hold nothing readable. Values are sent as stored: the caller checks them.
-- KEYS: rate book slots wait lim
-- include: arguments.lua

local now = clock()
local after = '(' .. fmt(now)
local function zcount(key)
  if redis.call('TYPE', key).ok ~= 'zset' then return 0 end
  return redis.call('ZCOUNT', key, after, fmt(now + __LIMIT_HORIZON__))
end
if ARGV[2] == 'rate' then
  if redis.call('TYPE', rate).ok ~= 'hash' then return {} end
  local fields = redis.call('HMGET', rate, 'tat', 'count', 'per')
  return {fields[1] or '', fields[2] or '', fields[3] or '', zcount(book)}
end
if redis.call('TYPE', lim).ok ~= 'string' then return {} end
local limit = redis.call('GET', lim)
if #limit > 12 then return {} end
return {limit, zcount(slots), zcount(wait)}
