-- The queries of rate limits and concurrency slots per key (see
-- alligator_postgres/limiting.py), read by name as queries.sql is. Keys are
-- bytea (the key's UTF-8). take_rate and acquire_slot run in one transaction
-- that first takes limit_lock; every time is the server's clock, read once
-- per transaction (or the injected test clock, passed as %(now)s).

-- name: limit_lock
-- Steps on one key take turns until their transactions end (a key has no
-- row to lock before its first take). The key's md5 names the lock: bytea
-- has no hash of its own that SQL can call.
SELECT pg_advisory_xact_lock(hashtext('alligator limit'), hashtext(md5(%(key)s)))

-- name: rate_state
-- The time of the step, the holder's booking (one more than %(per)s seconds
-- past is stale: dropped, and not read) and the key's stored time. Some
-- keys whose time is past are dropped on the way (as good as absent), a
-- bounded batch that skips rows another step holds, so steps on different
-- keys never wait on each other here.
WITH clock AS (SELECT alligator_now(%(now)s) AS now),
stale AS (
    DELETE FROM alligator_limit_bookings
    WHERE key = %(key)s AND slot < (SELECT now FROM clock) - %(per)s
),
past AS (
    DELETE FROM alligator_limit_rates WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM alligator_limit_rates WHERE tat < (SELECT now FROM clock) AND key <> %(key)s
        LIMIT 100 FOR UPDATE SKIP LOCKED
    ))
)
SELECT
    clock.now,
    (SELECT slot FROM alligator_limit_bookings
        WHERE key = %(key)s AND holder = %(holder)s AND slot >= clock.now - %(per)s),
    (SELECT tat FROM alligator_limit_rates WHERE key = %(key)s)
FROM clock

-- name: apply_take
-- What take_step decided, in one statement: the holder's booking used, the
-- key's new time, a slot booked (each part only when its parameter says so).
WITH used AS (
    DELETE FROM alligator_limit_bookings
    WHERE %(use_booking)s AND key = %(key)s AND holder = %(holder)s
),
rate AS (
    INSERT INTO alligator_limit_rates (key, tat, count, per)
    SELECT %(key)s, %(tat)s, %(count)s, %(per)s WHERE %(tat)s::double precision IS NOT NULL
    ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, count = excluded.count, per = excluded.per
),
booked AS (
    INSERT INTO alligator_limit_bookings (key, holder, slot)
    SELECT %(key)s, %(holder)s, %(slot)s WHERE %(slot)s::double precision IS NOT NULL
    ON CONFLICT (key, holder) DO UPDATE SET slot = excluded.slot
)
SELECT 1

-- name: slot_state
-- The time of the step and the key's holders whose lease has not ended.
-- Ended leases, and leases further ahead than %(horizon)s seconds (planted
-- by hand: none could be), are dropped, and so are waiters listed for
-- longer than their time.
WITH clock AS (SELECT alligator_now(%(now)s) AS now),
ended AS (
    DELETE FROM alligator_limit_slots
    WHERE key = %(key)s AND (lease_end <= (SELECT now FROM clock)
        OR lease_end > (SELECT now FROM clock) + %(horizon)s)
),
old AS (
    DELETE FROM alligator_limit_waiters WHERE key = %(key)s AND until <= (SELECT now FROM clock)
)
SELECT clock.now, s.holder, s.lease_end
FROM clock LEFT JOIN alligator_limit_slots AS s
ON s.key = %(key)s AND s.lease_end > clock.now AND s.lease_end <= clock.now + %(horizon)s

-- name: grant_slot
-- The holder holds a slot until %(lease_end)s, and is no longer waiting.
WITH slot AS (
    INSERT INTO alligator_limit_slots (key, holder, lease_end, lim)
    VALUES (%(key)s, %(holder)s, %(lease_end)s, %(lim)s)
    ON CONFLICT (key, holder) DO UPDATE SET lease_end = excluded.lease_end, lim = excluded.lim
)
DELETE FROM alligator_limit_waiters WHERE key = %(key)s AND holder = %(holder)s

-- name: add_waiter
INSERT INTO alligator_limit_waiters (key, holder, until, lim) VALUES (%(key)s, %(holder)s, %(until)s, %(lim)s)
ON CONFLICT (key, holder) DO UPDATE SET until = excluded.until, lim = excluded.lim

-- name: extend_slot
-- One statement, atomic on its own: a lease that ended stays ended.
UPDATE alligator_limit_slots SET lease_end = alligator_now(%(now)s) + %(lease)s
WHERE key = %(key)s AND holder = %(holder)s AND lease_end > alligator_now(%(now)s)

-- name: release_slot
DELETE FROM alligator_limit_slots WHERE key = %(key)s AND holder = %(holder)s

-- name: rate_states
-- The keys with a take of their period used or a booking to come; a key
-- over %(max_key)s bytes comes back NULL, never read.
SELECT CASE WHEN octet_length(r.key) <= %(max_key)s THEN r.key END, r.tat, r.count, r.per,
    (SELECT count(*) FROM alligator_limit_bookings AS b WHERE b.key = r.key AND b.slot > %(at)s)
FROM alligator_limit_rates AS r
WHERE r.tat > %(at)s AND r.tat <= %(at)s + %(horizon)s
ORDER BY r.key LIMIT %(limit)s

-- name: slot_states
-- The keys with a slot held or a holder refused lately, with the last limit
-- asked for (the largest, when holders asked for several).
SELECT CASE WHEN octet_length(key) <= %(max_key)s THEN key END,
    count(*) FILTER (WHERE kind = 'held'), count(*) FILTER (WHERE kind = 'waiting'), max(lim)
FROM (
    SELECT key, 'held' AS kind, lim FROM alligator_limit_slots
    WHERE lease_end > %(at)s AND lease_end <= %(at)s + %(horizon)s
    UNION ALL
    SELECT key, 'waiting' AS kind, lim FROM alligator_limit_waiters WHERE until > %(at)s
) AS live
GROUP BY key ORDER BY key LIMIT %(limit)s
