-- The tasks script.
-- ARGV: now, state, offset, limit (>= 1), max_payload_bytes, max_dead_letters,
-- dead_letter_ttl. Returns (id, payload, attempts, failures, due or failed_at,
-- reason, priority) flattened, in the state's order; payloads cut to the limit. Changes
-- nothing, except that listing dead letters drops those past their time first.
-- KEYS: pending payloads attempts failures leases dead dead_order failed ranked_pending ranked priorities ranked_due
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
local function add(id, at, priority)
  out[#out + 1] = id
  out[#out + 1] = cut(redis.call('HGET', payloads, id))
  out[#out + 1] = redis.call('HGET', attempts, id) or '0'
  out[#out + 1] = redis.call('HGET', failures, id) or '0'
  out[#out + 1] = at
  out[#out + 1] = ''
  out[#out + 1] = priority or redis.call('HGET', priorities, id) or '0'
end
-- Merges two lists of (member, score) pairs by score, then member; the
-- first want of them, as {id, score} pairs (a pending member's id follows
-- its sequence number; a lease's member is the id).
local function merged(a, b, want, b_ids)
  local i, j, list = 1, 1, {}
  while #list < want and (i <= #a or j <= #b) do
    if j > #b or (i <= #a and tonumber(a[i + 1]) <= tonumber(b[j + 1])) then
      list[#list + 1] = {string.sub(a[i], 18), a[i + 1]}
      i = i + 2
    else
      list[#list + 1] = {b_ids and b[j] or string.sub(b[j], 18), b[j + 1]}
      j = j + 2
    end
  end
  return list
end
if state == 'dead' then
  retain(now)
  for _, id in ipairs(redis.call('ZRANGE', dead_order, offset, offset + limit - 1)) do
    local f = redis.call('HMGET', dead, 'p:' .. id, 'a:' .. id, 't:' .. id, 'r:' .. id, 'y:' .. id)
    out[#out + 1] = id
    out[#out + 1] = cut(f[1])
    out[#out + 1] = f[2] or '0'
    out[#out + 1] = '0'
    out[#out + 1] = f[3] or '0'
    out[#out + 1] = f[4] or ''
    out[#out + 1] = f[5] or '0'
  end
elseif state == 'delayed' then
  -- Both sets of tasks waiting for their time, merged by due time.
  local want = offset + limit
  local plain = redis.call('ZRANGEBYSCORE', pending, '(' .. nowf, '+inf', 'WITHSCORES', 'LIMIT', 0, want)
  local ranked_later = redis.call('ZRANGEBYSCORE', ranked_pending, '(' .. nowf, '+inf',
    'WITHSCORES', 'LIMIT', 0, want)
  local list = merged(plain, ranked_later, want, false)
  for n = offset + 1, #list do add(list[n][1], list[n][2]) end
elseif state == 'running' then
  local found = redis.call('ZRANGEBYSCORE', leases, '(' .. nowf, '+inf',
    'WITHSCORES', 'LIMIT', offset, limit)
  for i = 1, #found, 2 do add(found[i], found[i + 1]) end
elseif state == 'waiting' then
  -- In the order reserve takes them. Priority 0: the due tasks of pending
  -- merged with the ended leases as reserve would merge them (by due time, a
  -- lease that ended after the waiting tasks of the same time).
  local want = offset + limit
  local list = {}
  if redis.call('EXISTS', ranked_pending, ranked, priorities) == 0 then
    local due = redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, want)
    local ended = redis.call('ZRANGEBYSCORE', leases, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, want)
    for _, item in ipairs(merged(due, ended, want, true)) do list[#list + 1] = {item[1], item[2], '0'} end
  else
    -- With priorities: every waiting task of another priority than 0 is read
    -- and sorted here (a listing, not a hot path): by priority, then ranked
    -- ones first (they came due first), then by due time.
    local due = redis.call('ZRANGEBYSCORE', pending, '-inf', nowf, 'WITHSCORES', 'LIMIT', 0, want)
    local ended = redis.call('ZRANGEBYSCORE', leases, '-inf', nowf, 'WITHSCORES')
    local plain_ended, others = {}, {}
    for i = 1, #ended, 2 do
      local priority = redis.call('HGET', priorities, ended[i])
      if priority then
        others[#others + 1] = {ended[i], ended[i + 1], priority, 1, tonumber(ended[i + 1]), ''}
      else
        plain_ended[#plain_ended + 1] = ended[i]
        plain_ended[#plain_ended + 1] = ended[i + 1]
      end
    end
    local ranked_all = redis.call('ZRANGE', ranked, 0, -1, 'WITHSCORES')
    for i = 1, #ranked_all, 2 do
      local id = string.sub(ranked_all[i], 18)
      local at = redis.call('HGET', ranked_due, id) or nowf
      others[#others + 1] = {id, at, int(100 - tonumber(ranked_all[i + 1])), 0, 0, ranked_all[i]}
    end
    local unranked = redis.call('ZRANGEBYSCORE', ranked_pending, '-inf', nowf, 'WITHSCORES')
    for i = 1, #unranked, 2 do
      local id = string.sub(unranked[i], 18)
      local priority = redis.call('HGET', priorities, id) or '0'
      others[#others + 1] = {id, unranked[i + 1], priority, 1, tonumber(unranked[i + 1]), unranked[i]}
    end
    for _, item in ipairs(others) do item[7] = tonumber(item[3]) or 101 end
    table.sort(others, function(a, b)
      if a[7] ~= b[7] then return a[7] > b[7] end
      if a[4] ~= b[4] then return a[4] < b[4] end
      if a[5] ~= b[5] then return a[5] < b[5] end
      return a[6] < b[6]
    end)
    local zero = merged(due, plain_ended, want, true)
    local k = 1
    for _, item in ipairs(others) do
      if item[7] <= 0 then
        while k <= #zero and #list < want do
          list[#list + 1] = {zero[k][1], zero[k][2], '0'}
          k = k + 1
        end
      end
      if #list >= want then break end
      list[#list + 1] = {item[1], item[2], item[3]}
    end
    while k <= #zero and #list < want do
      list[#list + 1] = {zero[k][1], zero[k][2], '0'}
      k = k + 1
    end
  end
  for n = offset + 1, #list do add(list[n][1], list[n][2], list[n][3]) end
else
  fail('unknown state ' .. state)
end
return out
