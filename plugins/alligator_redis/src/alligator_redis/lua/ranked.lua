-- Tasks with a priority other than 0: ranking them as they come due, and
-- taking the due tasks of a queue highest priority first.
-- Shared helpers, pulled into a script by its `-- include: ranked.lua` line.
-- include: pending.lua
-- include: batch.lua

-- Moves the prioritized tasks that came due from ranked_pending to ranked,
-- in due order, each with a new sequence number: among equal priorities the
-- one that came due first is first. Scored 100 - priority; a stored priority
-- that is no priority is scored -1, first of all, for reserve to bury it.
local function rank_due(now)
  local due = redis.call('ZRANGEBYSCORE', ranked_pending, '-inf', fmt(now), 'WITHSCORES', 'LIMIT', 0, __RECLAIM__)
  if #due == 0 then return end
  redis.call('ZREMRANGEBYRANK', ranked_pending, 0, #due / 2 - 1)
  local ids, due_at = {}, {}
  for i = 1, #due, 2 do
    ids[#ids + 1] = string.sub(due[i], 18)
    due_at[#due_at + 1] = due[i + 1]
  end
  local stored = each_chunk('HMGET', priorities, ids)
  local first = next_seq(#ids) - #ids
  local scored, moved, dues = {}, {}, {}
  for n, id in ipairs(ids) do
    local member = string.format('%016d:', first + n) .. id
    local value, score = stored[n], -1
    if value and #value <= 4 and string.find(value, '^%-?%d+$') then
      local priority = tonumber(value)
      if priority >= -100 and priority <= 100 then score = 100 - priority end
    end
    scored[#scored + 1] = int(score)
    scored[#scored + 1] = member
    moved[#moved + 1] = id
    moved[#moved + 1] = member
    dues[#dues + 1] = id
    dues[#dues + 1] = due_at[n]
  end
  each_chunk('ZADD', ranked, scored)
  each_chunk('HSET', members, moved)
  each_chunk('HSET', ranked_due, dues)
end
-- Takes up to limit members off the front of the queue, highest priority
-- first: ranked above 0, then pending's due tasks (priority 0), then the rest
-- of ranked. Returns them in that order, and which ids came from ranked.
local function take_ranked(limit, now)
  rank_due(now)
  local taken, from_ranked = {}, {}
  local high = redis.call('ZRANGEBYSCORE', ranked, '-inf', '(100', 'LIMIT', 0, limit)
  if #high > 0 then redis.call('ZREMRANGEBYRANK', ranked, 0, #high - 1) end
  for _, member in ipairs(high) do
    taken[#taken + 1] = member
    from_ranked[string.sub(member, 18)] = true
  end
  if #taken < limit then
    local zero = redis.call('ZRANGEBYSCORE', pending, '-inf', fmt(now), 'LIMIT', 0, limit - #taken)
    if #zero > 0 then redis.call('ZREMRANGEBYRANK', pending, 0, #zero - 1) end
    for _, member in ipairs(zero) do taken[#taken + 1] = member end
  end
  if #taken < limit then
    local low = redis.call('ZRANGE', ranked, 0, limit - #taken - 1)
    if #low > 0 then redis.call('ZREMRANGEBYRANK', ranked, 0, #low - 1) end
    for _, member in ipairs(low) do
      taken[#taken + 1] = member
      from_ranked[string.sub(member, 18)] = true
    end
  end
  local gone = {}
  for id in pairs(from_ranked) do gone[#gone + 1] = id end
  if #gone > 0 then each_chunk('HDEL', ranked_due, gone) end
  return taken, from_ranked
end
