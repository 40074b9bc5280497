-- The tables of schema version 5, created in a new file (see schema.py).
-- Statements are run one at a time, split at each semicolon: no semicolon
-- inside a statement or a comment.

CREATE TABLE IF NOT EXISTS alligator_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alligator_tasks (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    due REAL NOT NULL,
    seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, task_id)
);

-- Version 5: the priority within the queue leads the order reserve takes
-- due tasks in; each priority's tasks are in due order, so reserve seeks each
-- priority's due range in turn, highest first (see reserve_due).
CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, priority DESC, due, seq);

-- The payload is the dead letters' last column: a row can then be inserted
-- with zeroblob(N) there without SQLite allocating N bytes, and the payload
-- copied in pieces (see SqliteBackend._bury).
CREATE TABLE IF NOT EXISTS alligator_dead (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (queue, task_id)
);

CREATE INDEX IF NOT EXISTS alligator_dead_seq ON alligator_dead (queue, seq);

CREATE TABLE IF NOT EXISTS alligator_finished (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (queue, task_id)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS alligator_finished_at ON alligator_finished (finished_at);

-- Version 3: return values kept with the ack, and the registry of live
-- workers. A result's and a worker's lifetimes are stored (expires_at, on the
-- backend's clock), so expiry follows the injected test clock too; the
-- indexes on expires_at let the lazy trims find what ended with one range scan.
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

-- Version 4: the paused queues and functions, one set per file (see set_paused).
CREATE TABLE IF NOT EXISTS alligator_paused (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;

-- Version 5: unique keys, one record per (queue, key): the task holding it,
-- its mode, and when the hold ends at the latest (see alligator_sqlite/unique.py).
CREATE TABLE IF NOT EXISTS alligator_unique_keys (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    mode TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS alligator_unique_keys_until ON alligator_unique_keys (queue, until);

-- Version 5: each schedule's last enqueued tick, per queue (see push_tick).
CREATE TABLE IF NOT EXISTS alligator_schedule_ticks (
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    last_tick REAL NOT NULL,
    about TEXT NOT NULL,
    PRIMARY KEY (queue, name)
) WITHOUT ROWID;

-- Version 5: rate limits and concurrency slots per key (see limiting.py):
-- a key's GCRA time, the slots booked by waiting holders, the slots held
-- with the end of their lease, and the holders refused lately.
CREATE TABLE IF NOT EXISTS alligator_limit_rates (
    key TEXT PRIMARY KEY,
    tat REAL NOT NULL,
    count INTEGER NOT NULL,
    per REAL NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS alligator_limit_rates_tat ON alligator_limit_rates (tat);

CREATE TABLE IF NOT EXISTS alligator_limit_bookings (
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    slot REAL NOT NULL,
    PRIMARY KEY (key, holder)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alligator_limit_slots (
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    lease_end REAL NOT NULL,
    lim INTEGER NOT NULL,
    PRIMARY KEY (key, holder)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS alligator_limit_waiters (
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    until REAL NOT NULL,
    lim INTEGER NOT NULL,
    PRIMARY KEY (key, holder)
) WITHOUT ROWID;

-- Version 5: the priority of each dead letter whose task had one other than
-- 0, so that a requeued letter keeps it. A table of its own: the payload
-- must stay the dead letters' last column (see above).
CREATE TABLE IF NOT EXISTS alligator_priority_dead (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    PRIMARY KEY (queue, task_id)
) WITHOUT ROWID;
