-- The limit_release script: a holder's slot given back.
-- ARGV: holder. Returns 1 if it held one, else 0.
-- KEYS: slots

if redis.call('TYPE', slots).ok ~= 'zset' then return 0 end
return redis.call('ZREM', slots, ARGV[1])
