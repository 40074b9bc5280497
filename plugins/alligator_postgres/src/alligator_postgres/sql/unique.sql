-- The queries of unique keys (see alligator_postgres/unique.py), read by name
-- as queries.sql is. A key's record: its holder's id, the mode it was pushed
-- with, and when the hold ends at the latest. Whether it still holds is the
-- core's rule (alligator.unique_store.holds), judged in Python from the
-- holder's state read here; these statements run in one transaction that
-- first takes unique_lock.

-- name: unique_lock
-- Pushes of one key of one queue take turns, until their transactions end:
-- the record may not exist yet, so there is no row to lock. The two-integer
-- form of the advisory locks, apart from the schema lock's bigint one; two
-- keys whose hashes collide only wait for each other.
SELECT pg_advisory_xact_lock(hashtext(%(queue)s), hashtext(%(key)s))

-- name: unique_record
-- The time of the whole push (passed to the statements after this one), the
-- key's record, and its holder's state: whether its row is live, due later
-- than now, and held by a worker. Records past their end are dropped on the
-- way (this statement still sees them; their until says they hold nothing).
-- A holder or mode over %(max_bytes)s bytes (planted) comes back NULL: the
-- record then holds nothing, and the push replaces it.
WITH clock AS (SELECT alligator_now(%(now)s) AS now),
ended AS (
    DELETE FROM alligator_unique_keys
    WHERE queue = %(queue)s AND until <= (SELECT now FROM clock)
)
SELECT
    clock.now,
    CASE WHEN octet_length(k.holder) <= %(max_bytes)s THEN k.holder END,
    CASE WHEN octet_length(k.mode) <= %(max_bytes)s THEN k.mode END,
    k.until,
    t.task_id IS NOT NULL,
    coalesce(t.due > clock.now, false),
    coalesce(t.receipt IS NOT NULL, false)
FROM clock
LEFT JOIN alligator_unique_keys AS k ON k.queue = %(queue)s AND k.key = %(key)s
LEFT JOIN alligator_tasks AS t ON t.queue = k.queue AND t.task_id = k.holder

-- name: write_unique
INSERT INTO alligator_unique_keys (queue, key, holder, mode, until)
VALUES (%(queue)s, %(key)s, %(holder)s, %(mode)s, %(until)s)
ON CONFLICT (queue, key) DO UPDATE SET holder = excluded.holder, mode = excluded.mode, until = excluded.until

-- name: unique_page
-- One page of a queue's records that may still hold, by key (in code point
-- order, as Python sorts), each with its holder's state as unique_record
-- reads it; keys or holders over %(max_bytes)s bytes (planted) are left out,
-- never read.
SELECT
    k.key, k.holder, k.mode, k.until,
    t.task_id IS NOT NULL,
    coalesce(t.due > %(at)s, false),
    coalesce(t.receipt IS NOT NULL, false)
FROM alligator_unique_keys AS k
LEFT JOIN alligator_tasks AS t ON t.queue = k.queue AND t.task_id = k.holder
WHERE k.queue = %(queue)s AND k.until > %(at)s
    AND octet_length(k.key) <= %(max_bytes)s AND octet_length(k.holder) <= %(max_bytes)s
    AND octet_length(k.mode) <= %(max_bytes)s
ORDER BY k.key COLLATE "C" LIMIT %(limit)s OFFSET %(offset)s
