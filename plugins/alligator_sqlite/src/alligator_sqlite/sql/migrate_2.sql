-- Schema version 2 to 3: only new tables (results and live workers), the
-- rows of version 2 are kept as they are. Same tables as in schema.sql.

CREATE TABLE IF NOT EXISTS alligator_results (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    finished_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (queue, task_id)
);

CREATE INDEX IF NOT EXISTS alligator_results_expires ON alligator_results (expires_at);

CREATE TABLE IF NOT EXISTS alligator_workers (
    worker_id TEXT PRIMARY KEY,
    heartbeat_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS alligator_workers_expires ON alligator_workers (expires_at);
