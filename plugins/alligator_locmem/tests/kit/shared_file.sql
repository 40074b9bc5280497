-- The queries of alligator.testing.selftest.shared_file: a store that
-- several processes share, one SQLite file. Each query starts at its
-- "-- name:" line and runs to the next; parameters are positional (?).

-- name: journal
-- Readers never wait for a writer, so clients overlap as on a server.
PRAGMA journal_mode = WAL

-- name: schema
CREATE TABLE IF NOT EXISTS tasks (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    due REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    lease_end REAL,
    UNIQUE (queue, id)
)

-- name: begin
-- Takes the file's write lock first: no other client reads the due tasks
-- between this one's read and its write.
BEGIN IMMEDIATE

-- name: rollback
ROLLBACK

-- name: commit
COMMIT

-- name: push
INSERT OR IGNORE INTO tasks (queue, id, payload, due) VALUES (?, ?, ?, ?)

-- name: due
-- Due tasks, and tasks whose lease ended (due at the lease's end), in due order.
SELECT id FROM tasks
WHERE queue = ? AND ((lease_end IS NULL AND due <= ?) OR lease_end <= ?)
ORDER BY COALESCE(lease_end, due), rowid
LIMIT ?

-- name: lease
UPDATE tasks SET attempts = attempts + 1, receipt = ?, lease_end = ?
WHERE queue = ? AND id = ? RETURNING payload, attempts

-- name: ack
DELETE FROM tasks WHERE queue = ? AND id = ? AND receipt = ? AND lease_end > ?

-- name: release
UPDATE tasks SET receipt = NULL, lease_end = NULL, due = ?, attempts = attempts - ?
WHERE queue = ? AND id = ? AND receipt = ? AND lease_end > ?

-- name: waiting
SELECT count(*) FROM tasks WHERE queue = ? AND lease_end IS NULL

-- name: drop_all
DELETE FROM tasks WHERE queue = ?
