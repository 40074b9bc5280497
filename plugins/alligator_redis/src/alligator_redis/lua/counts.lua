-- The counts script.
-- ARGV: now, dead_letter_ttl. Returns (waiting, delayed, running, dead); an
-- ended lease is waiting; a dead letter past its time is not counted (listing
-- would drop it). The letters are in the order they failed: the expired ones
-- are the oldest, counted until the first that is not.
-- KEYS: pending leases dead_order dead ranked_pending ranked priorities
-- include: arguments.lua
-- include: retention.lua

local now = clock()
local nowf = fmt(now)
local age = ttl_arg(ARGV[2], 'dead_letter_ttl')
local expired = 0
local first = 0
while true do
  local batch = redis.call('ZRANGE', dead_order, first, first + __RETAIN_BATCH__ - 1)
  local stop = #batch == 0
  for _, id in ipairs(batch) do
    if not past_its_time(id, now, age) then stop = true break end
    expired = expired + 1
  end
  if stop then break end
  first = first + #batch
end
return {
  redis.call('ZCOUNT', pending, '-inf', nowf) + redis.call('ZCOUNT', leases, '-inf', nowf)
    + redis.call('ZCOUNT', ranked_pending, '-inf', nowf) + redis.call('ZCARD', ranked),
  redis.call('ZCOUNT', pending, '(' .. nowf, '+inf') + redis.call('ZCOUNT', ranked_pending, '(' .. nowf, '+inf'),
  redis.call('ZCOUNT', leases, '(' .. nowf, '+inf'),
  redis.call('ZCARD', dead_order) - expired,
}
