-- The len script.
-- ARGV: now. Returns waiting + delayed + expired leases.
-- KEYS: pending leases
-- include: arguments.lua

return redis.call('ZCARD', pending) + redis.call('ZCOUNT', leases, '-inf', fmt(clock()))
