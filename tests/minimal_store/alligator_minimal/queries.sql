-- The queries of the minimal store: one SQLite file, one table. Each query
-- starts at its "-- name:" line and runs to the next; parameters are named.
--
-- A live task's "due" is when it is (or was) due; while a worker holds it,
-- the end of its lease. So one comparison with now tells everything: a live
-- task is due once due <= now, and a lease has ended at the same instant.

-- name: journal
PRAGMA journal_mode = WAL

-- name: schema
CREATE TABLE IF NOT EXISTS tasks (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT,                        -- NULL once acked
    state TEXT NOT NULL,                 -- 'live', 'done' (acked) or 'dead'
    due REAL NOT NULL,                   -- see above
    seq INTEGER NOT NULL,                -- order among tasks due at the same instant
    receipt TEXT,                        -- the delivery holding it, while due > now
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    finished_at REAL,                    -- when acked or dead-lettered
    PRIMARY KEY (queue, id)
)

-- name: begin
-- Takes the file's write lock first: no other client reads due tasks
-- between this one's read and its write.
BEGIN IMMEDIATE

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: push
-- A new id, or one acked before (its old status is forgotten); never a live or dead one.
INSERT INTO tasks (queue, id, payload, state, due, seq)
VALUES (:queue, :id, :payload, 'live', :due, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks))
ON CONFLICT (queue, id) DO UPDATE SET
    payload = excluded.payload, state = 'live', due = excluded.due, seq = excluded.seq,
    receipt = NULL, attempts = 0, failures = 0, finished_at = NULL
WHERE tasks.state = 'done'

-- name: due
-- The first due tasks (a lease that ended counts from its end), with their sizes.
SELECT id, length(CAST(payload AS BLOB)) FROM tasks
WHERE queue = :queue AND state = 'live' AND due <= :now
ORDER BY due, seq
LIMIT :limit

-- name: size
-- A waiting or delayed task's size (not one a worker holds).
SELECT length(CAST(payload AS BLOB)) FROM tasks
WHERE queue = :queue AND id = :id AND state = 'live' AND (receipt IS NULL OR due <= :now)

-- name: raw
-- A record's stored bytes, read only once its size is known to be within the limit.
SELECT CAST(payload AS BLOB) FROM tasks WHERE queue = :queue AND id = :id

-- name: plant
-- For the kit's hostile-writer fixture: a waiting task whose payload is raw bytes, as anyone
-- with write access to the file could write it (push never stores such a record).
INSERT INTO tasks (queue, id, payload, state, due, seq)
VALUES (:queue, :id, :payload, 'live', :due, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks))

-- name: lease
UPDATE tasks SET receipt = :receipt, due = :lease_end, attempts = attempts + 1
WHERE queue = :queue AND id = :id
RETURNING payload, attempts, failures

-- name: unreadable
-- A record reserve or get must not hand out: dead-lettered, its delivery counted.
UPDATE tasks SET state = 'dead', receipt = NULL, attempts = attempts + 1, finished_at = :now
WHERE queue = :queue AND id = :id

-- name: ack
UPDATE tasks SET state = 'done', payload = NULL, receipt = NULL, finished_at = :now
WHERE queue = :queue AND id = :id AND state = 'live' AND receipt = :receipt AND due > :now

-- name: forget_done
-- Acked tasks past the status TTL: status() says None for them already.
DELETE FROM tasks WHERE queue = :queue AND state = 'done' AND finished_at + :ttl <= :now

-- name: release
UPDATE tasks SET receipt = NULL, due = :due, seq = (SELECT MAX(seq) + 1 FROM tasks),
    attempts = attempts - :unattempted, failures = failures + :attempted
WHERE queue = :queue AND id = :id AND state = 'live' AND receipt = :receipt AND due > :now

-- name: extend
UPDATE tasks SET due = :lease_end
WHERE queue = :queue AND id = :id AND state = 'live' AND receipt = :receipt AND due > :now

-- name: dead_letter
-- No reason is kept: a store without dead-letter administration has nobody to show it to.
UPDATE tasks SET state = 'dead', receipt = NULL, finished_at = :now
WHERE queue = :queue AND id = :id AND state = 'live' AND receipt = :receipt AND due > :now

-- name: drop_old_dead
-- Retention: dead letters past their time, then the oldest beyond the cap.
DELETE FROM tasks WHERE queue = :queue AND state = 'dead' AND (
    finished_at + :ttl <= :now OR id NOT IN (
        SELECT id FROM tasks WHERE queue = :queue AND state = 'dead'
        ORDER BY finished_at DESC, seq DESC LIMIT :keep))

-- name: get
UPDATE tasks SET receipt = :receipt, due = :lease_end, attempts = attempts + 1
WHERE queue = :queue AND id = :id AND state = 'live' AND (receipt IS NULL OR due <= :now)
RETURNING payload, attempts, failures

-- name: peek
SELECT payload FROM tasks
WHERE queue = :queue AND id = :id AND state = 'live' AND length(CAST(payload AS BLOB)) <= :most

-- name: cancel
DELETE FROM tasks
WHERE queue = :queue AND id = :id AND state = 'live' AND (receipt IS NULL OR due <= :now)

-- name: status
SELECT state, due, receipt, finished_at FROM tasks WHERE queue = :queue AND id = :id

-- name: len
SELECT count(*) FROM tasks
WHERE queue = :queue AND state = 'live' AND (receipt IS NULL OR due <= :now)

-- name: drop_all
DELETE FROM tasks WHERE queue = :queue
