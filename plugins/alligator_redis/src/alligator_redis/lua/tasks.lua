-- The tasks script.
-- ARGV: now, state, offset, limit (>= 1), max_payload_bytes, max_dead_letters,
-- dead_letter_ttl. Returns (id, payload, attempts, failures, due or failed_at,
-- reason) flattened, in the state's order; payloads cut to the limit. Changes
-- nothing, except that listing dead letters drops those past their time first.
-- KEYS: pending payloads attempts failures leases dead dead_order failed
-- include: arguments.lua
-- include: leases.lua
-- include: retention.lua

local now = clock()
local state = ARGV[2]
local offset = whole(ARGV[3], 'offset', 0)
local limit = whole(ARGV[4], 'limit', 1)
local max = whole(ARGV[5], 'max_payload_bytes', 0)
keep_args(ARGV[6], ARGV[7])
local nowf = fmt(now)
local function cut(payload)
  if payload and #payload > max then return string.sub(payload, 1, max) end
  return payload or ''
end
local out = {}
local function add(id, at)
  out[#out + 1] = id
  out[#out + 1] = cut(redis.call('HGET', payloads, id))
  out[#out + 1] = redis.call('HGET', attempts, id) or '0'
  out[#out + 1] = redis.call('HGET', failures, id) or '0'
  out[#out + 1] = at
  out[#out + 1] = ''
end
if state == 'dead' then
  retain(now)
  for _, id in ipairs(redis.call('ZRANGE', dead_order, offset, offset + limit - 1)) do
    local f = redis.call('HMGET', dead, 'p:' .. id, 'a:' .. id, 't:' .. id, 'r:' .. id)
    out[#out + 1] = id
    out[#out + 1] = cut(f[1])
    out[#out + 1] = f[2] or '0'
    out[#out + 1] = '0'
    out[#out + 1] = f[3] or '0'
    out[#out + 1] = f[4] or ''
  end
elseif state == 'delayed' then
  local found = redis.call('ZRANGEBYSCORE', pending, '(' .. nowf, '+inf',
    'WITHSCORES', 'LIMIT', offset, limit)
  for i = 1, #found, 2 do add(string.sub(found[i], 18), found[i + 1]) end
elseif state == 'running' then
  local found = redis.call('ZRANGEBYSCORE', leases, '(' .. nowf, '+inf',
    'WITHSCORES', 'LIMIT', offset, limit)
  for i = 1, #found, 2 do add(found[i], found[i + 1]) end
elseif state == 'waiting' then
  -- The due tasks, merged with the ended leases as reserve would merge them:
  -- by due time, a lease that ended after the waiting tasks of the same time.
  local want = offset + limit
  local due = redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, want)
  local ended = redis.call('ZRANGEBYSCORE', leases, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, want)
  local i, j, n = 1, 1, 0
  while n < want and (i <= #due or j <= #ended) do
    local id, at
    if j > #ended or (i <= #due and tonumber(due[i + 1]) <= tonumber(ended[j + 1])) then
      id, at = string.sub(due[i], 18), due[i + 1]
      i = i + 2
    else
      id, at = ended[j], ended[j + 1]
      j = j + 2
    end
    n = n + 1
    if n > offset then add(id, at) end
  end
else
  fail('unknown state ' .. state)
end
return out
