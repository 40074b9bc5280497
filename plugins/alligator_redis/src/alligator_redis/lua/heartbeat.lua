-- The heartbeat script.
-- ARGV: now, worker_id, record, ttl, max_workers. Writes the record, drops the
-- expired and the oldest over the cap, and keeps a native expiry a day past
-- the TTL as a safety net. Returns 1.
-- KEYS: records beats
-- include: arguments.lua
-- include: workers.lua

local now = clock()
local id = ARGV[2]
local ttl = finite(ARGV[4], 'ttl')
if ttl < 0 then ttl = 0 end
local cap = whole(ARGV[5], 'max_workers', 0)
-- The tie-break of equal heartbeat times; a counter written by hand restarts.
local last = redis.call('HGET', records, 'seq') or ''
if #last > 15 or not string.find(last, '^%d+$') then last = '0' end
local n = tonumber(last) + 1
redis.call('HSET', records, 'seq', int(n))
redis.call('HSET', records, 'r:' .. id, ARGV[3], 'e:' .. id, fmt(now + ttl), 'n:' .. id, int(n))
redis.call('ZADD', beats, fmt(now), id)
sweep(now, cap, false)
local ms = int(math.min(math.ceil((ttl + __RESULT_GRACE__) * 1000), __NET_CAP__))
for _, key in ipairs({records, beats}) do
  local left = redis.call('PTTL', key)
  if left == -1 or (left >= 0 and left < tonumber(ms)) then redis.call('PEXPIRE', key, ms) end
end
return 1
