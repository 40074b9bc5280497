-- Schema version 1 to 2: the failures column (every count starting at 0),
-- and alligator_dead rebuilt to move the payload to the last column.

ALTER TABLE alligator_tasks ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS alligator_dead_v2 (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (queue, task_id)
);

INSERT INTO alligator_dead_v2 (queue, task_id, reason, attempts, failed_at, seq, payload)
SELECT queue, task_id, reason, attempts, failed_at, seq, payload FROM alligator_dead;

DROP TABLE alligator_dead;

ALTER TABLE alligator_dead_v2 RENAME TO alligator_dead;

CREATE INDEX IF NOT EXISTS alligator_dead_seq ON alligator_dead (queue, seq);
