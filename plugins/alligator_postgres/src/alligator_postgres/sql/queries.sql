-- Every query the PostgreSQL backend runs, by name (the schema and its
-- migrations are in schema.sql and migrate_N.sql).
--
-- Each query starts with a "-- name: NAME" line and runs to the next one;
-- queries.py binds each name to a constant of the same name in capitals
-- (reserve_due is queries.RESERVE_DUE), and a test checks that every query
-- here is bound and used. Parameters are psycopg's named ones, %(queue)s,
-- passed as dicts (a literal percent sign is written %%).
--
-- %(now)s is NULL unless a test clock is injected: alligator_now() then
-- reads the server's clock, in the statement itself (no round trip for
-- the time). Bytea columns (payloads, reasons, results, records) are
-- measured with octet_length() and selected only within the limits, so a
-- huge hand-written value never leaves the server.

-- -- schema (schema.py) -----------------------------------------------------

-- name: schema_lock
-- One process creates or migrates the tables; the others wait, then find
-- them. A session lock: the transaction that reads the tables again begins
-- after it is held, so its catalog is the one the last creator committed.
SELECT pg_advisory_lock(7318120522)

-- name: schema_unlock
SELECT pg_advisory_unlock(7318120522)

-- name: meta_table_exists
SELECT to_regclass('alligator_meta') IS NOT NULL

-- name: read_schema_version
SELECT value FROM alligator_meta WHERE key = 'schema_version'

-- name: insert_meta
INSERT INTO alligator_meta (key, value) VALUES ('schema_version', %(version)s)

-- name: set_schema_version
UPDATE alligator_meta SET value = %(version)s WHERE key = 'schema_version'

-- name: server_now
SELECT alligator_now(NULL)

-- name: server_encoding
SELECT current_setting('server_encoding')

-- -- the caller's transaction (transactional.py) -------------------------------

-- name: begin_own
-- A unique push through a connection in autocommit mode gets a transaction of
-- its own: its key's lock, read and write must be one atomic step.
BEGIN

-- name: commit_own
COMMIT

-- name: rollback_own
ROLLBACK

-- -- producing (consuming.py) ------------------------------------------------

-- name: push_tasks
-- Ids are unique across live tasks and dead letters alike; an id that
-- finished may be pushed again, which forgets its old status and result in
-- the same statement. Items come as arrays, in order: each draws its seq in
-- that order, and a repeated id keeps its first push. Each has its
-- priority (0 for push and push_many).
WITH items AS (
    SELECT i.task_id, i.payload, i.delay, i.priority, i.n
    FROM unnest(
        %(task_ids)s::text[], %(payloads)s::bytea[], %(delays)s::double precision[], %(priorities)s::smallint[]
    ) WITH ORDINALITY AS i(task_id, payload, delay, priority, n)
    WHERE NOT EXISTS (SELECT 1 FROM alligator_dead AS d WHERE d.queue = %(queue)s AND d.task_id = i.task_id)
    ORDER BY i.n
),
pushed AS (
    INSERT INTO alligator_tasks (queue, task_id, payload, due, seq, priority)
    SELECT %(queue)s, task_id, payload, alligator_now(%(now)s) + greatest(delay, 0), nextval('alligator_seq'),
        priority
    FROM items ORDER BY n
    ON CONFLICT (queue, task_id) DO NOTHING
    RETURNING task_id
),
forget_status AS (
    DELETE FROM alligator_finished AS f USING pushed
    WHERE f.queue = %(queue)s AND f.task_id = pushed.task_id
),
forget_result AS (
    DELETE FROM alligator_results AS r USING pushed
    WHERE r.queue = %(queue)s AND r.task_id = pushed.task_id
)
SELECT count(*) FROM pushed

-- -- consuming (consuming.py) ------------------------------------------------

-- name: reserve_due
-- The first %(limit)s due tasks of a queue (waiting ones whose time came and
-- reserved ones whose lease ended both have due <= now), the highest
-- priority first, then by due time and seq, skipping rows another reserve
-- holds locked: two workers never take the same task and never wait on each
-- other. Each gets a lease, a fresh receipt and one more delivery.
-- The priorities the queue holds are walked from the highest down, one
-- probe of the (queue, priority DESC, due, seq) index each (levels), and each
-- one's due tasks read as one range of it, in order, until %(limit)s are
-- taken: a priority whose tasks are all delayed costs one short range, never
-- a scan of them. Columns: the task id when within %(max_id)s bytes (else
-- NULL), its size, the receipt, attempts, failures, the payload when within
-- %(max_bytes)s bytes (else NULL), its size, and the priority, old due and
-- seq (the order to hand them out in).
WITH RECURSIVE levels(priority) AS (
    SELECT max(priority) FROM alligator_tasks WHERE queue = %(queue)s
    UNION ALL
    SELECT (SELECT max(t.priority) FROM alligator_tasks AS t WHERE t.queue = %(queue)s AND t.priority < levels.priority)
    FROM levels WHERE levels.priority IS NOT NULL
),
taken AS (
    SELECT due_now.* FROM levels CROSS JOIN LATERAL (
        SELECT queue, task_id, due, seq FROM alligator_tasks
        WHERE queue = %(queue)s AND priority = levels.priority AND due <= alligator_now(%(now)s)
        ORDER BY due, seq LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS due_now
    WHERE levels.priority IS NOT NULL
    LIMIT %(limit)s
)
UPDATE alligator_tasks AS t SET
    due = alligator_now(%(now)s) + %(lease)s,
    attempts = least(t.attempts, 1000000000) + 1,
    receipt = gen_random_uuid()::text
FROM taken
WHERE t.queue = taken.queue AND t.task_id = taken.task_id
RETURNING
    CASE WHEN octet_length(t.task_id) <= %(max_id)s THEN t.task_id END,
    octet_length(t.task_id),
    t.receipt,
    t.attempts,
    least(t.failures, 1000000000),
    CASE WHEN octet_length(t.payload) <= %(max_bytes)s THEN t.payload END,
    octet_length(t.payload),
    t.priority,
    taken.due,
    taken.seq

-- name: get_task
-- One named task, waiting or delayed (or with an ended lease), as reserve_due.
WITH taken AS (
    SELECT queue, task_id FROM alligator_tasks
    WHERE queue = %(queue)s AND task_id = %(task_id)s
    AND (receipt IS NULL OR due <= alligator_now(%(now)s))
    FOR UPDATE SKIP LOCKED
)
UPDATE alligator_tasks AS t SET
    due = alligator_now(%(now)s) + %(lease)s,
    attempts = least(t.attempts, 1000000000) + 1,
    receipt = gen_random_uuid()::text
FROM taken
WHERE t.queue = taken.queue AND t.task_id = taken.task_id
RETURNING
    t.receipt,
    t.attempts,
    least(t.failures, 1000000000),
    CASE WHEN octet_length(t.payload) <= %(max_bytes)s THEN t.payload END,
    octet_length(t.payload)

-- name: ack_tasks
-- Acks (task_id, receipt) pairs, records SUCCESS and keeps the results
-- given (a result is NULL when none is kept), all in one statement: a task
-- is never acked without its result. due > now: a lease that ended is ended
-- everywhere, re-reserved or not. Waiters on results are notified.
WITH items AS (
    SELECT * FROM unnest(
        %(task_ids)s::text[], %(receipts)s::text[], %(results)s::bytea[], %(ttls)s::double precision[]
    ) AS i(task_id, receipt, result, ttl)
),
acked AS (
    DELETE FROM alligator_tasks AS t USING items
    WHERE t.queue = %(queue)s AND t.task_id = items.task_id AND t.receipt = items.receipt
    AND t.due > alligator_now(%(now)s)
    RETURNING t.task_id
),
recorded AS (
    INSERT INTO alligator_finished (queue, task_id, status, finished_at)
    SELECT %(queue)s, task_id, %(success)s, alligator_now(%(now)s) FROM acked
    ON CONFLICT (queue, task_id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at
),
kept AS (
    INSERT INTO alligator_results (queue, task_id, finished_at, expires_at, result)
    SELECT DISTINCT ON (items.task_id)
        %(queue)s, items.task_id, alligator_now(%(now)s), alligator_now(%(now)s) + items.ttl, items.result
    FROM items JOIN acked ON acked.task_id = items.task_id
    WHERE items.result IS NOT NULL AND items.ttl > 0
    ON CONFLICT (queue, task_id) DO UPDATE
    SET finished_at = excluded.finished_at, expires_at = excluded.expires_at, result = excluded.result
),
woken AS (
    SELECT pg_notify('alligator_done', left(%(queue)s, 2000)) WHERE EXISTS (SELECT 1 FROM acked)
)
SELECT (SELECT count(*) FROM acked), (SELECT count(*) FROM woken)

-- name: purge_finished
DELETE FROM alligator_finished WHERE finished_at < %(horizon)s

-- name: trim_expired_results
DELETE FROM alligator_results WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM alligator_results WHERE expires_at <= alligator_now(%(now)s) LIMIT %(batch)s
))

-- name: release_task
UPDATE alligator_tasks SET
    due = alligator_now(%(now)s) + greatest(%(delay)s, 0),
    seq = nextval('alligator_seq'),
    receipt = NULL,
    attempts = greatest(attempts - %(undelivered)s, 0),
    failures = least(failures, 1000000000) + %(attempted)s
WHERE queue = %(queue)s AND task_id = %(task_id)s AND receipt = %(receipt)s AND due > alligator_now(%(now)s)

-- name: extend_leases
-- One row per lease still held; the caller maps them back to its items.
UPDATE alligator_tasks AS t SET due = alligator_now(%(now)s) + %(lease)s
FROM unnest(%(task_ids)s::text[], %(receipts)s::text[]) AS i(task_id, receipt)
WHERE t.queue = %(queue)s AND t.task_id = i.task_id AND t.receipt = i.receipt
AND t.due > alligator_now(%(now)s)
RETURNING t.task_id, t.receipt

-- name: bury_task
-- Moves a held task (by its receipt, unique to one delivery, and its id
-- unless %(task_id)s is NULL: a record reserve just found unreadable) to the dead
-- letters with the reason, recording FAILED, in one statement. The task id
-- is cut to %(max_id)s bytes (a planted one may be longer).
WITH gone AS (
    DELETE FROM alligator_tasks
    WHERE queue = %(queue)s AND receipt = %(receipt)s
    AND (%(task_id)s::text IS NULL OR task_id = %(task_id)s::text)
    AND (%(held)s = 0 OR due > alligator_now(%(now)s))
    RETURNING queue, task_id, attempts, payload, priority
),
cut AS (
    SELECT queue, convert_from(substring(convert_to(task_id, 'UTF8') FROM 1 FOR %(max_id)s), 'UTF8') AS task_id,
        attempts, payload, priority
    FROM gone
),
letter AS (
    INSERT INTO alligator_dead (queue, task_id, reason, attempts, failed_at, payload, priority)
    SELECT queue, task_id, %(reason)s, attempts, alligator_now(%(now)s), payload, priority FROM cut
    ON CONFLICT (queue, task_id) DO UPDATE SET reason = excluded.reason, attempts = excluded.attempts,
        failed_at = excluded.failed_at, seq = excluded.seq, payload = excluded.payload,
        priority = excluded.priority
),
failed AS (
    INSERT INTO alligator_finished (queue, task_id, status, finished_at)
    SELECT queue, task_id, %(failed)s, alligator_now(%(now)s) FROM cut
    ON CONFLICT (queue, task_id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at
),
woken AS (
    SELECT pg_notify('alligator_done', left(%(queue)s, 2000)) WHERE EXISTS (SELECT 1 FROM gone)
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM woken)

-- name: retain_letters
-- A queue's dead letters past their time, then the oldest beyond the cap,
-- are dropped with their FAILED statuses.
WITH gone AS (
    DELETE FROM alligator_dead AS d
    WHERE d.queue = %(queue)s AND (d.failed_at < %(horizon)s OR d.seq <= (
        SELECT seq FROM alligator_dead WHERE queue = %(queue)s
        ORDER BY seq DESC OFFSET %(keep)s LIMIT 1
    ))
    RETURNING d.task_id
)
DELETE FROM alligator_finished AS f USING gone
WHERE f.queue = %(queue)s AND f.task_id = gone.task_id AND f.status = %(failed)s

-- -- waking (waking.py) --------------------------------------------------------

-- name: listen_work
LISTEN alligator_work

-- name: listen_done
LISTEN alligator_done

-- name: next_due
-- Whether any of the queues has a task due now, and else how long until its
-- next delay or lease ends (NULL: nothing is held or delayed). The first due
-- time of each priority each queue holds, walked as reserve_due walks them:
-- one probe of the (queue, priority DESC, due, seq) index each.
WITH RECURSIVE levels(queue, priority) AS (
    SELECT q, (SELECT max(priority) FROM alligator_tasks WHERE queue = q)
    FROM unnest(%(queues)s::text[]) AS q
    UNION ALL
    SELECT levels.queue, (
        SELECT max(t.priority) FROM alligator_tasks AS t
        WHERE t.queue = levels.queue AND t.priority < levels.priority
    )
    FROM levels WHERE levels.priority IS NOT NULL
),
heads AS (
    SELECT (
        SELECT t.due FROM alligator_tasks AS t
        WHERE t.queue = levels.queue AND t.priority = levels.priority ORDER BY t.due LIMIT 1
    ) AS first_due
    FROM levels WHERE levels.priority IS NOT NULL
)
SELECT
    bool_or(first_due <= alligator_now(%(now)s)),
    min(first_due) - alligator_now(%(now)s)
FROM heads

-- -- inspecting and managing (inspecting.py) ---------------------------------

-- name: peek_task
SELECT CASE WHEN octet_length(payload) <= %(max_bytes)s THEN payload END, octet_length(payload)
FROM alligator_tasks WHERE queue = %(queue)s AND task_id = %(task_id)s

-- name: cancel_task
DELETE FROM alligator_tasks
WHERE queue = %(queue)s AND task_id = %(task_id)s AND (receipt IS NULL OR due <= alligator_now(%(now)s))

-- name: task_status
-- One snapshot: the live row if any (later: not due yet; receipt: held),
-- else the dead letter (and whether it is past its time), the success
-- status's time, and whether a result is kept.
SELECT
    (SELECT ARRAY[(due > alligator_now(%(now)s))::int, (receipt IS NOT NULL)::int]
        FROM alligator_tasks WHERE queue = %(queue)s AND task_id = %(task_id)s),
    (SELECT (failed_at < %(dead_horizon)s)::int
        FROM alligator_dead WHERE queue = %(queue)s AND task_id = %(task_id)s),
    (SELECT status FROM alligator_finished
        WHERE queue = %(queue)s AND task_id = %(task_id)s AND finished_at >= %(horizon)s),
    EXISTS (SELECT 1 FROM alligator_results
        WHERE queue = %(queue)s AND task_id = %(task_id)s AND expires_at > alligator_now(%(now)s))

-- name: finished_task
-- What finished() reads, in one statement: whether the id is live, the dead
-- letter (reason cut to %(max_bytes)s, time, past its time), the success
-- status's time, and the kept result (measured, selected within the limit).
SELECT
    EXISTS (SELECT 1 FROM alligator_tasks WHERE queue = %(queue)s AND task_id = %(task_id)s),
    d.reason_head, d.failed_at, d.past,
    (SELECT finished_at FROM alligator_finished WHERE queue = %(queue)s AND task_id = %(task_id)s
        AND status = %(success)s AND finished_at >= %(horizon)s),
    r.finished_at, r.size, r.result
FROM (SELECT 1) AS one
LEFT JOIN (
    SELECT substring(reason FROM 1 FOR %(max_bytes)s) AS reason_head, failed_at,
        failed_at < %(dead_horizon)s AS past
    FROM alligator_dead WHERE queue = %(queue)s AND task_id = %(task_id)s
) AS d ON true
LEFT JOIN (
    SELECT finished_at, octet_length(result) AS size,
        CASE WHEN octet_length(result) <= %(max_bytes)s THEN result END AS result
    FROM alligator_results
    WHERE queue = %(queue)s AND task_id = %(task_id)s AND expires_at > alligator_now(%(now)s)
) AS r ON true

-- name: succeeded_page
-- Newest first (ties: the greater id in UTF-8 bytes first), each with its
-- live result measured as finished_task does.
SELECT f.task_id, f.finished_at, r.task_id IS NOT NULL, coalesce(octet_length(r.result), 0),
    CASE WHEN octet_length(r.result) <= %(max_bytes)s THEN r.result END
FROM alligator_finished AS f LEFT JOIN alligator_results AS r
ON r.queue = f.queue AND r.task_id = f.task_id AND r.expires_at > alligator_now(%(now)s)
WHERE f.queue = %(queue)s AND f.status = %(success)s AND f.finished_at >= %(horizon)s
ORDER BY f.finished_at DESC, f.task_id COLLATE "C" DESC LIMIT %(limit)s OFFSET %(offset)s

-- name: count_pending
SELECT count(*) FROM alligator_tasks
WHERE queue = %(queue)s AND (receipt IS NULL OR due <= alligator_now(%(now)s))

-- name: dead_letters_page
-- Payloads cut to %(max_bytes)s bytes; both decoded leniently.
SELECT task_id, substring(payload FROM 1 FOR %(max_bytes)s), reason,
    attempts, failed_at, priority
FROM alligator_dead WHERE queue = %(queue)s ORDER BY seq LIMIT %(limit)s OFFSET %(offset)s

-- name: requeue_letter
-- Moves one letter back, due now, its counts reset, unless its id is live
-- (only a hand-written row could be); its FAILED status and result go.
WITH moved AS (
    DELETE FROM alligator_dead AS d
    WHERE d.queue = %(queue)s AND d.task_id = %(task_id)s
    AND NOT EXISTS (SELECT 1 FROM alligator_tasks AS t WHERE t.queue = d.queue AND t.task_id = d.task_id)
    RETURNING d.task_id, d.payload, d.priority
),
back AS (
    INSERT INTO alligator_tasks (queue, task_id, payload, due, priority)
    SELECT %(queue)s, task_id, payload, alligator_now(%(now)s), priority FROM moved
),
forget_status AS (
    DELETE FROM alligator_finished AS f USING moved WHERE f.queue = %(queue)s AND f.task_id = moved.task_id
),
forget_result AS (
    DELETE FROM alligator_results AS r USING moved WHERE r.queue = %(queue)s AND r.task_id = moved.task_id
)
SELECT count(*) FROM moved

-- name: requeue_all_letters
-- Every letter whose id is not live, in the order they failed.
WITH moved AS (
    DELETE FROM alligator_dead AS d
    WHERE d.queue = %(queue)s
    AND NOT EXISTS (SELECT 1 FROM alligator_tasks AS t WHERE t.queue = d.queue AND t.task_id = d.task_id)
    RETURNING d.task_id, d.payload, d.seq, d.priority
),
back AS (
    INSERT INTO alligator_tasks (queue, task_id, payload, due, seq, priority)
    SELECT %(queue)s, task_id, payload, alligator_now(%(now)s), nextval('alligator_seq'), priority
    FROM (SELECT * FROM moved ORDER BY seq) AS ordered
),
forget_status AS (
    DELETE FROM alligator_finished AS f USING moved WHERE f.queue = %(queue)s AND f.task_id = moved.task_id
),
forget_result AS (
    DELETE FROM alligator_results AS r USING moved WHERE r.queue = %(queue)s AND r.task_id = moved.task_id
)
SELECT count(*) FROM moved

-- name: delete_letter
WITH gone AS (
    DELETE FROM alligator_dead WHERE queue = %(queue)s AND task_id = %(task_id)s RETURNING task_id
),
forget AS (
    DELETE FROM alligator_finished AS f USING gone
    WHERE f.queue = %(queue)s AND f.task_id = gone.task_id AND f.status = %(failed)s
)
SELECT count(*) FROM gone

-- name: purge_letters
WITH gone AS (
    DELETE FROM alligator_dead WHERE queue = %(queue)s RETURNING task_id
),
forget AS (
    DELETE FROM alligator_finished AS f USING gone
    WHERE f.queue = %(queue)s AND f.task_id = gone.task_id AND f.status = %(failed)s
)
SELECT count(*) FROM gone

-- name: list_queues
SELECT DISTINCT queue FROM alligator_tasks UNION SELECT DISTINCT queue FROM alligator_dead

-- name: list_finished_queues
SELECT DISTINCT queue FROM alligator_finished UNION SELECT DISTINCT queue FROM alligator_results

-- name: count_states
SELECT
    count(*) FILTER (WHERE t.due <= alligator_now(%(now)s)),
    count(*) FILTER (WHERE t.receipt IS NULL AND t.due > alligator_now(%(now)s)),
    count(*) FILTER (WHERE t.receipt IS NOT NULL AND t.due > alligator_now(%(now)s)),
    (SELECT count(*) FROM alligator_dead WHERE queue = %(queue)s AND failed_at >= %(horizon)s)
FROM alligator_tasks AS t WHERE t.queue = %(queue)s

-- name: waiting_page
-- due is the lease's end for a reserved task, so an ended lease is simply due.
-- In the order reserve_due takes them: the highest priority first.
SELECT task_id, substring(payload FROM 1 FOR %(max_bytes)s), attempts, failures, due, priority
FROM alligator_tasks WHERE queue = %(queue)s AND due <= alligator_now(%(now)s)
ORDER BY priority DESC, due, seq LIMIT %(limit)s OFFSET %(offset)s

-- name: delayed_page
SELECT task_id, substring(payload FROM 1 FOR %(max_bytes)s), attempts, failures, due, priority
FROM alligator_tasks WHERE queue = %(queue)s AND receipt IS NULL AND due > alligator_now(%(now)s)
ORDER BY due, seq LIMIT %(limit)s OFFSET %(offset)s

-- name: running_page
SELECT task_id, substring(payload FROM 1 FOR %(max_bytes)s), attempts, failures, due, priority
FROM alligator_tasks WHERE queue = %(queue)s AND receipt IS NOT NULL AND due > alligator_now(%(now)s)
ORDER BY due, seq LIMIT %(limit)s OFFSET %(offset)s

-- name: drop_queue
WITH tasks AS (DELETE FROM alligator_tasks WHERE queue = %(queue)s),
dead AS (DELETE FROM alligator_dead WHERE queue = %(queue)s),
finished AS (DELETE FROM alligator_finished WHERE queue = %(queue)s),
results AS (DELETE FROM alligator_results WHERE queue = %(queue)s),
unique_keys AS (DELETE FROM alligator_unique_keys WHERE queue = %(queue)s),
ticks AS (DELETE FROM alligator_schedule_ticks WHERE queue = %(queue)s)
SELECT 1

-- -- live workers and pauses (registry.py) -----------------------------------

-- name: write_worker
INSERT INTO alligator_workers (worker_id, heartbeat_at, expires_at, seq, record)
VALUES (%(worker_id)s, alligator_now(%(now)s), alligator_now(%(now)s) + %(ttl)s, nextval('alligator_seq'),
    %(record)s)
ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
    expires_at = excluded.expires_at, seq = excluded.seq, record = excluded.record

-- name: bound_workers
-- The expired records, then the oldest beyond %(keep)s.
WITH expired AS (
    DELETE FROM alligator_workers WHERE expires_at <= alligator_now(%(now)s) RETURNING worker_id
)
DELETE FROM alligator_workers WHERE worker_id IN (
    SELECT worker_id FROM alligator_workers
    WHERE worker_id NOT IN (SELECT worker_id FROM expired)
    ORDER BY heartbeat_at DESC, seq DESC OFFSET %(keep)s
)

-- name: forget_worker
DELETE FROM alligator_workers WHERE worker_id = %(worker_id)s
RETURNING expires_at > alligator_now(%(now)s)

-- name: live_workers
-- The %(limit)s newest live records, listed oldest first; a record over
-- %(max_bytes)s bytes comes back NULL, never read.
SELECT worker_id, raw_record FROM (
    SELECT heartbeat_at, seq, worker_id,
        CASE WHEN octet_length(record) <= %(max_bytes)s THEN record END AS raw_record
    FROM alligator_workers WHERE expires_at > alligator_now(%(now)s) AND octet_length(worker_id) <= %(max_id)s
    ORDER BY heartbeat_at DESC, seq DESC LIMIT %(limit)s
) AS newest ORDER BY heartbeat_at, seq

-- name: resume
DELETE FROM alligator_paused WHERE kind = %(kind)s AND name = %(name)s

-- name: pause_lock
-- Pausing one more checks the count first: one pauser at a time.
LOCK TABLE alligator_paused IN SHARE ROW EXCLUSIVE MODE

-- name: pause_exists
SELECT 1 FROM alligator_paused WHERE kind = %(kind)s AND name = %(name)s

-- name: count_pauses
SELECT count(*) FROM alligator_paused

-- name: add_pause
INSERT INTO alligator_paused (kind, name) VALUES (%(kind)s, %(name)s)

-- name: list_pauses
-- A name over %(max_name)s bytes comes back NULL, never read.
SELECT kind, CASE WHEN octet_length(name) <= %(max_name)s THEN name END
FROM alligator_paused WHERE kind IN ('queue', 'function') ORDER BY kind, name LIMIT %(limit)s

-- -- deployment checks (diagnosis.py) ----------------------------------------

-- name: probe_write
-- Run in a transaction that is always rolled back: proves the database
-- takes a write, and leaves nothing behind.
INSERT INTO alligator_meta (key, value) VALUES ('doctor_probe', 0)
ON CONFLICT (key) DO UPDATE SET value = alligator_meta.value

-- name: settings
SELECT name, setting FROM pg_settings
WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections',
    'superuser_reserved_connections', 'server_encoding', 'idle_in_transaction_session_timeout')

-- name: connections_in_use
SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'

-- name: present_indexes
SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE 'alligator\_%%'

-- name: long_transactions
-- Transactions open longer than %(seconds)s: they hold back the vacuum of
-- every table, the queue's included (dead rows pile up, reserve slows).
SELECT pid, coalesce(datname, ''), coalesce(state, ''),
    extract(epoch FROM clock_timestamp() - xact_start)::double precision
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND xact_start < clock_timestamp() - make_interval(secs => %(seconds)s)
AND pid <> pg_backend_pid()
ORDER BY xact_start LIMIT 5

-- name: prepared_transactions
SELECT count(*), min(extract(epoch FROM clock_timestamp() - prepared))::double precision
FROM pg_prepared_xacts

-- name: dead_tuples
SELECT coalesce(n_live_tup, 0), coalesce(n_dead_tup, 0) FROM pg_stat_user_tables
WHERE relid = to_regclass('alligator_tasks')
