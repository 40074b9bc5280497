-- The len script.
-- ARGV: now. Returns waiting + delayed + expired leases.
-- KEYS: pending leases ranked_pending ranked priorities
-- include: arguments.lua

return redis.call('ZCARD', pending) + redis.call('ZCARD', ranked_pending) + redis.call('ZCARD', ranked)
  + redis.call('ZCOUNT', leases, '-inf', fmt(clock()))
