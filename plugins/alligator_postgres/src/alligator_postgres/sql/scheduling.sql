-- The queries of schedule records (see alligator_postgres/scheduling.py),
-- read by name as queries.sql is: each schedule's last enqueued tick, per
-- queue, and what the scheduler wrote about it. push_tick runs them in one
-- transaction that first takes schedule_lock.

-- name: schedule_lock
-- Schedulers pushing ticks of one schedule of one queue take turns until
-- their transactions end, so the record read is the one the push moves
-- forward (before the first tick there is no row to lock).
SELECT pg_advisory_xact_lock(hashtext(%(queue)s), hashtext('schedule ' || %(name)s))

-- name: schedule_last_tick
SELECT last_tick FROM alligator_schedule_ticks WHERE queue = %(queue)s AND name = %(name)s

-- name: record_tick
INSERT INTO alligator_schedule_ticks (queue, name, last_tick, about)
VALUES (%(queue)s, %(name)s, %(tick)s, %(about)s)
ON CONFLICT (queue, name) DO UPDATE SET last_tick = excluded.last_tick, about = excluded.about

-- name: list_schedule_ticks
-- A name, queue or about over its limit (planted) comes back NULL, never
-- read; the caller skips that record.
SELECT
    CASE WHEN octet_length(name) <= %(max_name)s THEN name END,
    CASE WHEN octet_length(queue) <= %(max_queue)s THEN queue END,
    last_tick,
    CASE WHEN octet_length(about) <= %(max_about)s THEN about END
FROM alligator_schedule_ticks ORDER BY name COLLATE "C", queue COLLATE "C" LIMIT %(limit)s
