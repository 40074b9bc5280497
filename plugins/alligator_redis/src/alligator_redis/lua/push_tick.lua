-- The push_tick script: a schedule's tick, pushed and recorded in one step.
-- ARGV: now, id, payload, schedule name, tick, about. Returns 1 if the task
-- was pushed and the tick recorded; 0, changing nothing, if the schedule's
-- recorded tick is at or after this one, or the id is taken (waiting,
-- delayed, reserved or a dead letter), as push refuses it.
-- The record is two fields of the queue's `schedules` hash: "t:<name>" the
-- last tick enqueued, "a:<name>" what the scheduler wrote about the schedule.
-- It carries the queue's hash tag, so this runs on one node of a Redis Cluster.
-- KEYS: payloads members pending seq wake dead_order work schedules priorities ranked ranked_pending
-- include: arguments.lua
-- include: pending.lua

local now = clock()
local id, payload, name = ARGV[2], ARGV[3], ARGV[4]
local tick = finite(ARGV[5], 'tick')
-- A recorded tick that is no number (planted by hand) counts as no record.
local recorded = tonumber(redis.call('HGET', schedules, 't:' .. name) or '')
if recorded and recorded == recorded and recorded >= tick then return 0 end
if redis.call('ZSCORE', dead_order, id) then return 0 end
if redis.call('HEXISTS', payloads, id) == 1 then return 0 end
local was_due = any_due(now)
redis.call('HSET', payloads, id, payload)
enqueue(id, now, next_seq(1))
redis.call('HSET', schedules, 't:' .. name, fmt(tick), 'a:' .. name, ARGV[6])
if not was_due then wake_up(1) end
return 1
