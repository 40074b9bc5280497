-- Every query the SQLite backend runs, by name (the schema and its
-- migrations are in schema.sql and migrate_N.sql).
--
-- Each query starts with a "-- name: NAME" line and runs to the next one;
-- queries.py binds each name to a constant of the same name in capitals
-- (reserve_due is queries.RESERVE_DUE), and a test checks that every query
-- here is bound and used. Parameters are named (:queue, :now) and passed as
-- dicts. Comments after the name line say why a query reads as it does.
--
-- Expressions that recur, spelt out in full where they are used:
--
-- * The counts as integers in a sane range whatever a hand-written row holds
--   (2**63 - 1, or no integer at all, taken as 0), so that adding one in
--   Python neither fails nor overflows:
--   CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END
--   (and the same for failures).
-- * A REAL column's value when it holds a finite number, else NULL (what a
--   hand may have written):
--   (CASE WHEN typeof(x) = 'real' AND abs(x) <= 1.7976931348623157e308 THEN x END)
-- * A result or worker record is live while its expiry, a number, is later
--   than now; +inf (an infinite ttl) never expires, and an expiry that is no
--   number (text, a blob) counts as past:
--   (typeof(expires_at) = 'real' AND expires_at > :now)
-- * The first stored number of a task row that is not a valid one, or NULL
--   when all are: such a row is dead-lettered, never compared or counted in
--   Python (a REAL column reports 'real' even for integer values):
--   CASE WHEN typeof(due) != 'real' OR abs(due) > 1.7976931348623157e308 THEN 'due'
--   WHEN typeof(seq) != 'integer' THEN 'seq' ... END
-- * A priority is valid when it is an integer from -100 to 100:
--   typeof(priority) = 'integer' AND priority BETWEEN -100 AND 100

-- -- connections and transactions (store.py) --------------------------------

-- name: set_busy_timeout
-- A PRAGMA takes no parameters: {milliseconds} is filled in with an int.
PRAGMA busy_timeout = {milliseconds}

-- name: set_wal_mode
-- The mode is stored in the file; setting it again is a no-op.
PRAGMA journal_mode = WAL

-- name: set_synchronous_full
PRAGMA synchronous = FULL

-- name: set_synchronous_normal
PRAGMA synchronous = NORMAL

-- name: begin_write
-- IMMEDIATE takes the write lock up front: a deferred transaction that reads
-- and then writes can fail with BUSY mid-way in WAL mode.
BEGIN IMMEDIATE

-- name: begin_read
BEGIN

-- name: commit
COMMIT

-- name: data_version
-- SQLite's count of commits by other connections, as this connection saw them.
PRAGMA data_version

-- -- schema (schema.py) -----------------------------------------------------

-- name: meta_table_exists
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alligator_meta'

-- name: read_schema_version
SELECT value FROM alligator_meta WHERE key = 'schema_version'

-- name: insert_meta
INSERT INTO alligator_meta (key, value) VALUES ('schema_version', :version), ('seq', 0)

-- name: set_schema_version
UPDATE alligator_meta SET value = :version WHERE key = 'schema_version'

-- -- shared steps (store.py) -------------------------------------------------

-- name: next_seqs
-- Draws :count sequence numbers; the value returned is the last one drawn.
UPDATE alligator_meta SET value = value + :count WHERE key = 'seq' RETURNING value

-- name: record_finished
INSERT OR REPLACE INTO alligator_finished (queue, task_id, status, finished_at)
VALUES (:queue, :task_id, :status, :now)

-- name: purge_finished
DELETE FROM alligator_finished WHERE finished_at < :horizon

-- name: bury_letter_zeroblob
-- VALUES, not INSERT ... SELECT: SQLite materializes a zeroblob that comes
-- through a SELECT. The payload is then copied in with blob I/O.
INSERT OR REPLACE INTO alligator_dead (queue, task_id, reason, attempts, failed_at, seq, payload)
VALUES (CAST(:queue AS TEXT), CAST(:task_id AS TEXT), :reason, :attempts, :now, :seq, zeroblob(:size))

-- name: bury_letter_copy
INSERT OR REPLACE INTO alligator_dead (queue, task_id, reason, attempts, failed_at, seq, payload)
SELECT CAST(:queue AS TEXT), CAST(:task_id AS TEXT), :reason, :attempts, :now, :seq, payload
FROM alligator_tasks WHERE rowid = :rowid

-- name: bury_finished
INSERT OR REPLACE INTO alligator_finished (queue, task_id, status, finished_at)
VALUES (CAST(:queue AS TEXT), CAST(:task_id AS TEXT), :status, :now)

-- name: forget_dead_priority
DELETE FROM alligator_priority_dead WHERE queue = CAST(:queue AS TEXT) AND task_id = CAST(:task_id AS TEXT)

-- name: keep_dead_priority
-- A dead letter keeps its task's priority when valid and not 0, for requeue.
INSERT INTO alligator_priority_dead (queue, task_id, priority)
SELECT CAST(:queue AS TEXT), CAST(:task_id AS TEXT), priority FROM alligator_tasks
WHERE rowid = :rowid AND typeof(priority) = 'integer' AND priority BETWEEN -100 AND 100 AND priority != 0

-- name: forget_letter_priority
DELETE FROM alligator_priority_dead WHERE (queue, task_id) IN
(SELECT queue, task_id FROM alligator_dead WHERE rowid = :rowid)

-- name: forget_queue_dead_priorities
DELETE FROM alligator_priority_dead WHERE queue = :queue

-- name: delete_task_row
DELETE FROM alligator_tasks WHERE rowid = :rowid

-- name: oldest_letter_time
SELECT failed_at FROM alligator_dead WHERE queue = :queue ORDER BY seq LIMIT 1

-- name: expired_letters
-- Looked for among the :batch oldest letters only.
SELECT rowid FROM (
    SELECT rowid, failed_at FROM alligator_dead WHERE queue = :queue ORDER BY seq LIMIT :batch
) WHERE failed_at < :horizon

-- name: count_letters
SELECT count(*) FROM alligator_dead WHERE queue = :queue

-- name: oldest_letters
SELECT rowid FROM alligator_dead WHERE queue = :queue ORDER BY seq LIMIT :count

-- name: forget_letter_status
DELETE FROM alligator_finished WHERE status = :failed AND (queue, task_id) IN
(SELECT queue, task_id FROM alligator_dead WHERE rowid = :rowid)

-- name: delete_letter_row
DELETE FROM alligator_dead WHERE rowid = :rowid

-- -- reading records (records.py) --------------------------------------------

-- name: letter_head
-- The queue as stored, and the attempts counted sanely, plus :delivered (1
-- when the row was reserved in this very step).
SELECT
    CAST(queue AS BLOB),
    CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END + :delivered
FROM alligator_tasks WHERE rowid = :rowid

-- name: task_id_size
SELECT length(CAST(task_id AS BLOB)) FROM alligator_tasks WHERE rowid = :rowid

-- name: task_id_head
SELECT substr(CAST(task_id AS BLOB), 1, :max_id) FROM alligator_tasks WHERE rowid = :rowid

-- name: corrupt_due
-- A stored number's type and its value (text and blobs cut to :max_bytes bytes).
SELECT typeof(due), CASE WHEN typeof(due) IN ('text', 'blob')
    THEN substr(CAST(due AS BLOB), 1, :max_bytes) ELSE due END
FROM alligator_tasks WHERE rowid = :rowid

-- name: corrupt_seq
SELECT typeof(seq), CASE WHEN typeof(seq) IN ('text', 'blob')
    THEN substr(CAST(seq AS BLOB), 1, :max_bytes) ELSE seq END
FROM alligator_tasks WHERE rowid = :rowid

-- name: corrupt_attempts
SELECT typeof(attempts), CASE WHEN typeof(attempts) IN ('text', 'blob')
    THEN substr(CAST(attempts AS BLOB), 1, :max_bytes) ELSE attempts END
FROM alligator_tasks WHERE rowid = :rowid

-- name: corrupt_priority
SELECT typeof(priority), CASE WHEN typeof(priority) IN ('text', 'blob')
    THEN substr(CAST(priority AS BLOB), 1, :max_bytes) ELSE priority END
FROM alligator_tasks WHERE rowid = :rowid

-- name: corrupt_failures
SELECT typeof(failures), CASE WHEN typeof(failures) IN ('text', 'blob')
    THEN substr(CAST(failures AS BLOB), 1, :max_bytes) ELSE failures END
FROM alligator_tasks WHERE rowid = :rowid

-- name: payload_size_and_bytes
-- Without blob I/O: measured in SQL, the bytes only when within the limit.
SELECT
    length(CAST(payload AS BLOB)),
    CASE WHEN length(CAST(payload AS BLOB)) > :max_bytes THEN NULL ELSE CAST(payload AS BLOB) END
FROM alligator_tasks WHERE rowid = :rowid

-- name: letter_payload_head
SELECT substr(CAST(payload AS BLOB), 1, :max_bytes) FROM alligator_dead WHERE rowid = :rowid

-- -- producing and consuming (consuming.py) ----------------------------------

-- name: push_task
-- Ids are unique across live tasks and dead letters alike: a dead letter's
-- id must not be taken while the letter may be requeued.
INSERT OR IGNORE INTO alligator_tasks (queue, task_id, payload, due, seq)
SELECT :queue, :task_id, :payload, :due, :seq
WHERE NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = :queue AND task_id = :task_id)

-- name: push_one_task
-- push_task for one task (push, a unique push, a schedule's tick), its seq
-- the counter as it stands, read and not drawn: the counter's row is then
-- not written, and each push's commit writes one page fewer to the WAL (3.5
-- pages a task on average instead of 4.5; writing and syncing them is most
-- of what a push costs). The order stays the
-- order of events: the counter is at least every live task's seq, and a new
-- row's rowid is above every live row's (SQLite gives max(rowid) + 1), so a
-- task pushed after another that holds the same seq comes after it in
-- (seq, rowid), the order the index and the queries below read (rowid is
-- the index's last, implied column). Release moves a row it keeps, so it
-- draws (next_seqs) a seq above all those read.
INSERT OR IGNORE INTO alligator_tasks (queue, task_id, payload, due, seq)
SELECT :queue, :task_id, :payload, :due, (SELECT value FROM alligator_meta WHERE key = 'seq')
WHERE NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = :queue AND task_id = :task_id)

-- name: push_prioritized_task
-- push_task with a priority (push_task leaves it at its default, 0).
INSERT OR IGNORE INTO alligator_tasks (queue, task_id, payload, due, seq, priority)
SELECT :queue, :task_id, :payload, :due, :seq, :priority
WHERE NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = :queue AND task_id = :task_id)

-- name: forget_finished_unless_dead
DELETE FROM alligator_finished WHERE queue = :queue AND task_id = :task_id
AND NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = :queue AND task_id = :task_id)

-- name: forget_result_unless_dead
DELETE FROM alligator_results WHERE queue = :queue AND task_id = :task_id
AND NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = :queue AND task_id = :task_id)

-- name: reserve_due
-- The due tasks of one priority of a queue, oldest first, through the
-- (queue, priority, due, seq) index: waiting tasks whose time came and
-- reserved ones whose lease lapsed both have due <= :now. Reserve reads the
-- priorities present from the highest down (next_priority), so each read is
-- one index range, whatever the other priorities hold. Columns: rowid; the task id's bytes when within
-- :max_id bytes, else NULL (one column, so SQLite holds at most one copy of
-- a huge id); attempts and failures counted sanely; the payload when it is
-- a BLOB within :max_bytes (its length comes from the row header), else NULL
-- and measured on its own; the first corrupt number's name, or NULL.
SELECT
    rowid,
    CASE WHEN length(CAST(task_id AS BLOB)) <= :max_id THEN CAST(task_id AS BLOB) END,
    CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(failures) = 'integer' THEN min(max(failures, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(payload) = 'blob' AND length(payload) <= :max_bytes THEN payload END,
    CASE WHEN typeof(due) != 'real' OR abs(due) > 1.7976931348623157e308 THEN 'due'
        WHEN typeof(seq) != 'integer' THEN 'seq'
        WHEN typeof(attempts) != 'integer' THEN 'attempts'
        WHEN typeof(failures) != 'integer' THEN 'failures'
        WHEN typeof(priority) != 'integer' OR priority NOT BETWEEN -100 AND 100 THEN 'priority' END
FROM alligator_tasks WHERE queue = :queue AND priority = :priority AND due <= :now
ORDER BY due, seq, rowid LIMIT :limit

-- name: top_priority
-- The highest priority the queue holds any task of (due or not), with one
-- index seek. Text and blobs sort after every number: a priority that is no
-- priority comes first, and reserve then buries it (corrupt_priority_rows).
SELECT priority FROM alligator_tasks WHERE queue = :queue ORDER BY priority DESC LIMIT 1

-- name: next_priority
-- The next priority below :below, as top_priority reads it; one below -100 is
-- no priority either.
SELECT priority FROM alligator_tasks WHERE queue = :queue AND priority < :below
ORDER BY priority DESC LIMIT 1

-- name: corrupt_due_rows
-- Rows whose due is not a finite number never meet reserve_due's range:
-- SQLite sorts TEXT and BLOB after every number, and +inf after every time.
-- They all sit at the end of a priority's part of the (queue, priority, due,
-- seq) index, where this range (due >= :infinity) finds them with one seek.
SELECT
    rowid,
    CASE WHEN typeof(due) != 'real' OR abs(due) > 1.7976931348623157e308 THEN 'due'
        WHEN typeof(seq) != 'integer' THEN 'seq'
        WHEN typeof(attempts) != 'integer' THEN 'attempts'
        WHEN typeof(failures) != 'integer' THEN 'failures'
        WHEN typeof(priority) != 'integer' OR priority NOT BETWEEN -100 AND 100 THEN 'priority' END
FROM alligator_tasks WHERE queue = :queue AND priority = :priority AND due >= :infinity LIMIT :limit

-- name: corrupt_priority_rows
-- Rows whose priority is out of range, text or a blob (all sort outside
-- -100 to 100), found at both ends of the queue's part of the index.
SELECT rowid, 'priority' FROM alligator_tasks WHERE queue = :queue AND priority > 100
UNION ALL
SELECT rowid, 'priority' FROM alligator_tasks WHERE queue = :queue AND priority < -100
LIMIT :limit

-- name: take_lease
UPDATE alligator_tasks SET due = :due, attempts = :attempts, receipt = :receipt WHERE rowid = :rowid

-- name: ack_task
-- due > :now: a lease that ended is ended everywhere, re-reserved or not.
DELETE FROM alligator_tasks
WHERE queue = :queue AND task_id = :task_id AND receipt = :receipt AND due > :now

-- name: keep_result
-- OR REPLACE: a result replaces an older one of the same id.
INSERT OR REPLACE INTO alligator_results (queue, task_id, finished_at, expires_at, result)
VALUES (:queue, :task_id, :now, :expires_at, :result)

-- name: trim_expired_results
DELETE FROM alligator_results WHERE rowid IN
(SELECT rowid FROM alligator_results WHERE expires_at <= :now LIMIT :batch)

-- name: trim_corrupt_results
-- An expiry that is not a number (text, a blob) sorts after every number.
DELETE FROM alligator_results WHERE rowid IN (
    SELECT rowid FROM alligator_results
    WHERE expires_at >= :infinity AND typeof(expires_at) != 'real' LIMIT :batch
)

-- name: release_task
-- The counts as read (clamped): a huge hand-written one must not overflow
-- into a REAL, which would then be called corrupt.
UPDATE alligator_tasks SET
    due = :due,
    seq = :seq,
    receipt = NULL,
    attempts = CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END
        - :undelivered,
    failures = CASE WHEN typeof(failures) = 'integer' THEN min(max(failures, 0), 1000000000) ELSE 0 END
        + :attempted
WHERE queue = :queue AND task_id = :task_id AND receipt = :receipt AND due > :now

-- name: extend_lease
UPDATE alligator_tasks SET due = :due
WHERE queue = :queue AND task_id = :task_id AND receipt = :receipt AND due > :now

-- name: held_task_rowid
SELECT rowid FROM alligator_tasks
WHERE queue = :queue AND task_id = :task_id AND receipt = :receipt AND due > :now

-- name: get_task
-- A row with a corrupt due is taken too (receipt IS NULL), to be buried; one
-- with a receipt and a corrupt due is reserve's to bury. Columns as in
-- reserve_due, without the id.
SELECT
    rowid,
    CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(failures) = 'integer' THEN min(max(failures, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(payload) = 'blob' AND length(payload) <= :max_bytes THEN payload END,
    CASE WHEN typeof(due) != 'real' OR abs(due) > 1.7976931348623157e308 THEN 'due'
        WHEN typeof(seq) != 'integer' THEN 'seq'
        WHEN typeof(attempts) != 'integer' THEN 'attempts'
        WHEN typeof(failures) != 'integer' THEN 'failures'
        WHEN typeof(priority) != 'integer' OR priority NOT BETWEEN -100 AND 100 THEN 'priority' END
FROM alligator_tasks
WHERE queue = :queue AND task_id = :task_id AND (receipt IS NULL OR due <= :now)

-- -- inspecting and managing (inspecting.py) ---------------------------------

-- name: peek_task
SELECT rowid, CASE WHEN typeof(payload) = 'blob' AND length(payload) <= :max_bytes THEN payload END
FROM alligator_tasks WHERE queue = :queue AND task_id = :task_id

-- name: cancel_task
DELETE FROM alligator_tasks
WHERE queue = :queue AND task_id = :task_id AND (receipt IS NULL OR due <= :now)

-- name: task_status
-- Compared as a number only when it is one: a hand-written due that is not
-- reads as WAITING until reserve buries it.
SELECT typeof(due) = 'real' AND abs(due) <= 1.7976931348623157e308 AND due > :now, receipt
FROM alligator_tasks WHERE queue = :queue AND task_id = :task_id

-- name: task_exists
SELECT 1 FROM alligator_tasks WHERE queue = :queue AND task_id = :task_id

-- name: letter_exists
SELECT 1 FROM alligator_dead WHERE queue = :queue AND task_id = :task_id

-- name: recent_status
SELECT status FROM alligator_finished
WHERE queue = :queue AND task_id = :task_id AND finished_at >= :horizon

-- name: finished_letter
-- The reason cut to :max_bytes, the time if finite, and whether it is past
-- :horizon (its time to be dropped).
SELECT
    substr(CAST(reason AS BLOB), 1, :max_bytes),
    (CASE WHEN typeof(failed_at) = 'real' AND abs(failed_at) <= 1.7976931348623157e308 THEN failed_at END),
    coalesce(failed_at < :horizon, 0)
FROM alligator_dead WHERE queue = :queue AND task_id = :task_id

-- name: finished_success
SELECT (CASE WHEN typeof(finished_at) = 'real' AND abs(finished_at) <= 1.7976931348623157e308
    THEN finished_at END)
FROM alligator_finished
WHERE queue = :queue AND task_id = :task_id AND status = :success
AND (CASE WHEN typeof(finished_at) = 'real' AND abs(finished_at) <= 1.7976931348623157e308
    THEN finished_at END) >= :horizon

-- name: finished_result
-- A result's size in bytes and its bytes, only when within :max_bytes. A
-- BLOB's length comes from the row header; a TEXT row (a hand-written one)
-- is measured inside SQLite, never copied out when too big.
SELECT
    (CASE WHEN typeof(finished_at) = 'real' AND abs(finished_at) <= 1.7976931348623157e308
        THEN finished_at END),
    coalesce(CASE WHEN typeof(result) = 'blob' THEN length(result)
        ELSE length(CAST(result AS BLOB)) END, 0),
    CASE WHEN coalesce(CASE WHEN typeof(result) = 'blob' THEN length(result)
        ELSE length(CAST(result AS BLOB)) END, 0) <= :max_bytes THEN CAST(result AS BLOB) END
FROM alligator_results
WHERE queue = :queue AND task_id = :task_id AND (typeof(expires_at) = 'real' AND expires_at > :now)

-- name: succeeded_page
-- Newest first, each with its live result measured as finished_result does.
SELECT
    substr(CAST(f.task_id AS BLOB), 1, :max_id),
    (CASE WHEN typeof(f.finished_at) = 'real' AND abs(f.finished_at) <= 1.7976931348623157e308
        THEN f.finished_at END),
    r.rowid IS NOT NULL,
    coalesce(CASE WHEN typeof(result) = 'blob' THEN length(result)
        ELSE length(CAST(result AS BLOB)) END, 0),
    CASE WHEN coalesce(CASE WHEN typeof(result) = 'blob' THEN length(result)
        ELSE length(CAST(result AS BLOB)) END, 0) <= :max_bytes THEN CAST(result AS BLOB) END
FROM alligator_finished AS f LEFT JOIN alligator_results AS r
ON r.queue = f.queue AND r.task_id = f.task_id AND (typeof(expires_at) = 'real' AND expires_at > :now)
WHERE f.queue = :queue AND f.status = :success
AND (CASE WHEN typeof(f.finished_at) = 'real' AND abs(f.finished_at) <= 1.7976931348623157e308
    THEN f.finished_at END) >= :horizon
ORDER BY f.finished_at DESC, CAST(f.task_id AS BLOB) DESC LIMIT :limit OFFSET :offset

-- name: count_pending
SELECT count(*) FROM alligator_tasks WHERE queue = :queue AND (receipt IS NULL OR due <= :now)

-- name: dead_letters_page
-- Bytes, the id cut to :max_id: a letter dead-lettered for being huge or not
-- UTF-8 can still be listed.
SELECT rowid, substr(CAST(task_id AS BLOB), 1, :max_id), CAST(reason AS BLOB), attempts, failed_at
FROM alligator_dead WHERE queue = :queue ORDER BY seq LIMIT :limit

-- name: requeue_letter
-- Copied in SQL: the payload stays exactly as stored; the priority it had too.
INSERT INTO alligator_tasks (queue, task_id, payload, due, seq, priority)
SELECT d.queue, d.task_id, d.payload, :now, :seq, coalesce(
    (SELECT p.priority FROM alligator_priority_dead AS p WHERE p.queue = d.queue AND p.task_id = d.task_id), 0
) FROM alligator_dead AS d WHERE d.queue = :queue AND d.task_id = :task_id

-- name: delete_letter
DELETE FROM alligator_dead WHERE queue = :queue AND task_id = :task_id

-- name: forget_finished
DELETE FROM alligator_finished WHERE queue = :queue AND task_id = :task_id

-- name: forget_result
DELETE FROM alligator_results WHERE queue = :queue AND task_id = :task_id

-- name: list_queues
SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_tasks
UNION SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_dead

-- name: list_finished_queues
SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_finished
UNION SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_results

-- name: count_states
SELECT
    coalesce(sum(due <= :now), 0),
    coalesce(sum(receipt IS NULL AND due > :now), 0),
    coalesce(sum(receipt IS NOT NULL AND due > :now), 0)
FROM alligator_tasks WHERE queue = :queue

-- name: count_live_letters
-- Letters past :horizon are not counted: listing would drop them.
SELECT count(*) FROM alligator_dead WHERE queue = :queue AND coalesce(failed_at < :horizon, 0) = 0

-- name: dead_page
SELECT rowid, CAST(task_id AS BLOB), attempts, CAST(reason AS BLOB), failed_at
FROM alligator_dead WHERE queue = :queue ORDER BY seq LIMIT :limit OFFSET :offset

-- name: waiting_page
-- due is the lease's end for a reserved task, so an ended lease is simply due.
-- Listed in the order reserve takes them: priority, then due time.
SELECT
    CAST(task_id AS BLOB),
    substr(CAST(payload AS BLOB), 1, :max_bytes),
    CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(failures) = 'integer' THEN min(max(failures, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(priority) = 'integer' AND priority BETWEEN -100 AND 100 THEN priority ELSE 0 END,
    due
FROM alligator_tasks WHERE queue = :queue AND due <= :now
ORDER BY priority DESC, due, seq, rowid LIMIT :limit OFFSET :offset

-- name: delayed_page
SELECT
    CAST(task_id AS BLOB),
    substr(CAST(payload AS BLOB), 1, :max_bytes),
    CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(failures) = 'integer' THEN min(max(failures, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(priority) = 'integer' AND priority BETWEEN -100 AND 100 THEN priority ELSE 0 END,
    due
FROM alligator_tasks WHERE queue = :queue AND receipt IS NULL AND due > :now
ORDER BY due, seq, rowid LIMIT :limit OFFSET :offset

-- name: running_page
SELECT
    CAST(task_id AS BLOB),
    substr(CAST(payload AS BLOB), 1, :max_bytes),
    CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(failures) = 'integer' THEN min(max(failures, 0), 1000000000) ELSE 0 END,
    CASE WHEN typeof(priority) = 'integer' AND priority BETWEEN -100 AND 100 THEN priority ELSE 0 END,
    due
FROM alligator_tasks WHERE queue = :queue AND receipt IS NOT NULL AND due > :now
ORDER BY due, seq, rowid LIMIT :limit OFFSET :offset

-- name: letter_rowids
SELECT rowid FROM alligator_dead WHERE queue = :queue AND task_id = :task_id

-- name: forget_failed_of_queue
DELETE FROM alligator_finished WHERE queue = :queue AND status = :failed AND task_id IN
(SELECT task_id FROM alligator_dead WHERE queue = :queue)

-- name: purge_letters
DELETE FROM alligator_dead WHERE queue = :queue

-- name: requeueable_letters
-- A letter whose id is live (a hand-written row) stays.
SELECT d.rowid FROM alligator_dead AS d WHERE d.queue = :queue AND NOT EXISTS
(SELECT 1 FROM alligator_tasks AS t WHERE t.queue = d.queue AND t.task_id = d.task_id)
ORDER BY d.seq

-- name: requeue_letter_row
INSERT INTO alligator_tasks (queue, task_id, payload, due, seq, priority)
SELECT d.queue, d.task_id, d.payload, :now, :seq, coalesce(
    (SELECT p.priority FROM alligator_priority_dead AS p WHERE p.queue = d.queue AND p.task_id = d.task_id), 0
) FROM alligator_dead AS d WHERE d.rowid = :rowid

-- name: forget_letter_finished
DELETE FROM alligator_finished WHERE (queue, task_id) IN
(SELECT queue, task_id FROM alligator_dead WHERE rowid = :rowid)

-- name: drop_queue_tasks
DELETE FROM alligator_tasks WHERE queue = :queue

-- name: drop_queue_dead
DELETE FROM alligator_dead WHERE queue = :queue

-- name: drop_queue_finished
DELETE FROM alligator_finished WHERE queue = :queue

-- name: drop_queue_results
DELETE FROM alligator_results WHERE queue = :queue

-- -- live workers and pauses (registry.py) -----------------------------------

-- name: write_worker
INSERT OR REPLACE INTO alligator_workers (worker_id, heartbeat_at, expires_at, seq, record)
VALUES (:worker_id, :now, :expires_at, :seq, :record)

-- name: drop_expired_workers
DELETE FROM alligator_workers WHERE expires_at <= :now

-- name: drop_corrupt_workers
-- Expiries that are no number (text, a blob) sort after +inf.
DELETE FROM alligator_workers WHERE expires_at >= :infinity AND typeof(expires_at) != 'real'

-- name: count_workers
SELECT count(*) FROM alligator_workers

-- name: drop_oldest_workers
-- Hand-written rows whose heartbeat is no finite number go first.
DELETE FROM alligator_workers WHERE rowid IN (
    SELECT rowid FROM alligator_workers
    ORDER BY (CASE WHEN typeof(heartbeat_at) = 'real' AND abs(heartbeat_at) <= 1.7976931348623157e308
        THEN heartbeat_at END) IS NOT NULL, heartbeat_at, seq
    LIMIT :count
)

-- name: worker_live
SELECT (typeof(expires_at) = 'real' AND expires_at > :now) FROM alligator_workers WHERE worker_id = :worker_id

-- name: delete_worker
DELETE FROM alligator_workers WHERE worker_id = :worker_id

-- name: live_workers
-- The :limit newest live records, listed oldest first; an id over :max_id or
-- a record over :max_bytes bytes comes back NULL, never read.
SELECT raw_id, raw_record FROM (
    SELECT
        heartbeat_at,
        seq,
        CASE WHEN length(CAST(worker_id AS BLOB)) <= :max_id THEN CAST(worker_id AS BLOB) END AS raw_id,
        CASE WHEN (CASE WHEN typeof(record) = 'blob' THEN length(record)
            ELSE length(CAST(record AS BLOB)) END) <= :max_bytes THEN CAST(record AS BLOB) END AS raw_record
    FROM alligator_workers
    WHERE (typeof(expires_at) = 'real' AND expires_at > :now)
    AND (CASE WHEN typeof(heartbeat_at) = 'real' AND abs(heartbeat_at) <= 1.7976931348623157e308
        THEN heartbeat_at END) IS NOT NULL
    ORDER BY heartbeat_at DESC, seq DESC LIMIT :limit
) ORDER BY heartbeat_at, seq

-- name: resume
DELETE FROM alligator_paused WHERE kind = :kind AND name = :name

-- name: pause_exists
SELECT 1 FROM alligator_paused WHERE kind = :kind AND name = :name

-- name: count_pauses
SELECT count(*) FROM alligator_paused

-- name: add_pause
INSERT INTO alligator_paused (kind, name) VALUES (:kind, :name)

-- name: list_pauses
-- A name over :max_name bytes comes back NULL, never read.
SELECT kind, CASE WHEN length(CAST(name AS BLOB)) <= :max_name THEN CAST(name AS BLOB) END
FROM alligator_paused WHERE kind IN ('queue', 'function') ORDER BY kind, name LIMIT :limit

-- -- schedules (scheduling.py) ----------------------------------------------

-- name: schedule_last_tick
-- NULL for a tick planted by hand that is no number: it counts as no record.
SELECT CASE WHEN typeof(last_tick) IN ('real', 'integer') THEN last_tick END
FROM alligator_schedule_ticks WHERE queue = :queue AND name = :name

-- name: record_tick
INSERT OR REPLACE INTO alligator_schedule_ticks (queue, name, last_tick, about)
VALUES (:queue, :name, :tick, :about)

-- name: drop_queue_schedules
DELETE FROM alligator_schedule_ticks WHERE queue = :queue

-- name: list_schedule_ticks
-- A name or about over its limit comes back NULL, never read; the caller skips it.
SELECT
    CASE WHEN length(CAST(name AS BLOB)) <= :max_name THEN CAST(name AS BLOB) END,
    CASE WHEN length(CAST(queue AS BLOB)) <= :max_queue THEN CAST(queue AS BLOB) END,
    CASE WHEN typeof(last_tick) IN ('real', 'integer') THEN last_tick END,
    CASE WHEN length(CAST(about AS BLOB)) <= :max_about THEN CAST(about AS BLOB) END
FROM alligator_schedule_ticks ORDER BY name, queue LIMIT :limit

-- -- deployment checks (diagnosis.py) ----------------------------------------

-- name: read_journal_mode
PRAGMA journal_mode

-- name: database_list
PRAGMA database_list

-- name: read_page_size
PRAGMA page_size

-- name: read_wal_autocheckpoint
PRAGMA wal_autocheckpoint

-- name: create_probe_table
-- Created inside a transaction that is always rolled back: proves the file
-- takes a write, and leaves nothing in it.
CREATE TABLE alligator_doctor_probe (x)

-- name: rollback
ROLLBACK

-- -- rate limits and concurrency slots per key (limiting.py) -----------------
-- Every time is the backend's; a value that is no number (planted by hand)
-- counts as absent: the deletes below drop it, the reads see None.

-- name: drop_past_rates
-- A key whose time is past is as good as absent: the index finds those at once.
DELETE FROM alligator_limit_rates WHERE tat < :now OR typeof(tat) NOT IN ('real', 'integer')

-- name: rate_time
SELECT tat FROM alligator_limit_rates WHERE key = :key

-- name: set_rate_time
INSERT OR REPLACE INTO alligator_limit_rates (key, tat, count, per) VALUES (:key, :tat, :count, :per)

-- name: drop_stale_bookings
DELETE FROM alligator_limit_bookings
WHERE key = :key AND (slot < :horizon OR typeof(slot) NOT IN ('real', 'integer'))

-- name: booking_of
SELECT slot FROM alligator_limit_bookings WHERE key = :key AND holder = :holder

-- name: delete_booking
DELETE FROM alligator_limit_bookings WHERE key = :key AND holder = :holder

-- name: add_booking
INSERT OR REPLACE INTO alligator_limit_bookings (key, holder, slot) VALUES (:key, :holder, :slot)

-- name: drop_ended_slots
-- A lease further ahead than any could be (planted by hand) is dropped too.
DELETE FROM alligator_limit_slots
WHERE key = :key AND (lease_end <= :now OR lease_end > :horizon OR typeof(lease_end) NOT IN ('real', 'integer'))

-- name: drop_old_waiters
DELETE FROM alligator_limit_waiters
WHERE key = :key AND (until <= :now OR typeof(until) NOT IN ('real', 'integer'))

-- name: slot_holders
SELECT holder, lease_end FROM alligator_limit_slots WHERE key = :key

-- name: set_slot
INSERT OR REPLACE INTO alligator_limit_slots (key, holder, lease_end, lim)
VALUES (:key, :holder, :lease_end, :lim)

-- name: delete_waiter
DELETE FROM alligator_limit_waiters WHERE key = :key AND holder = :holder

-- name: add_waiter
INSERT OR REPLACE INTO alligator_limit_waiters (key, holder, until, lim) VALUES (:key, :holder, :until, :lim)

-- name: extend_slot
UPDATE alligator_limit_slots SET lease_end = :lease_end
WHERE key = :key AND holder = :holder AND lease_end > :now AND typeof(lease_end) IN ('real', 'integer')

-- name: release_slot
DELETE FROM alligator_limit_slots WHERE key = :key AND holder = :holder

-- name: rate_states
-- The keys with a take of their period used or a booking to come; each key's
-- bytes are measured first and an over-long one never read.
SELECT CASE WHEN length(CAST(r.key AS BLOB)) <= :max_key THEN CAST(r.key AS BLOB) END, r.tat, r.count, r.per,
    (SELECT count(*) FROM alligator_limit_bookings AS b WHERE b.key = r.key AND b.slot > :now
        AND typeof(b.slot) IN ('real', 'integer'))
FROM alligator_limit_rates AS r
WHERE r.tat > :now AND r.tat <= :horizon AND typeof(r.tat) IN ('real', 'integer')
ORDER BY r.key LIMIT :limit

-- name: slot_states
-- The keys with a slot held or a holder refused lately, with the last limit
-- asked for (the largest, when holders asked for several).
SELECT CASE WHEN length(CAST(key AS BLOB)) <= :max_key THEN CAST(key AS BLOB) END,
    sum(kind = 'held'), sum(kind = 'waiting'), max(lim)
FROM (
    SELECT key, 'held' AS kind, lim FROM alligator_limit_slots
    WHERE lease_end > :now AND lease_end <= :horizon AND typeof(lease_end) IN ('real', 'integer')
    UNION ALL
    SELECT key, 'waiting' AS kind, lim FROM alligator_limit_waiters
    WHERE until > :now AND typeof(until) IN ('real', 'integer')
)
GROUP BY key ORDER BY key LIMIT :limit
