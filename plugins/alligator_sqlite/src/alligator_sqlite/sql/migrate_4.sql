-- Schema version 4 to 5: new tables only, empty after the upgrade: the unique
-- keys, each schedule's last tick (so no schedule has a recorded tick yet), and
-- the rate limits and concurrency slots per key (see limiting.py), so no key is
-- limited.

CREATE TABLE IF NOT EXISTS alligator_unique_keys (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    mode TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS alligator_unique_keys_until ON alligator_unique_keys (queue, until);

CREATE TABLE IF NOT EXISTS alligator_schedule_ticks (
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    last_tick REAL NOT NULL,
    about TEXT NOT NULL,
    PRIMARY KEY (queue, name)
) WITHOUT ROWID;

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

-- And a priority per task (0 for every task already queued), the index
-- reserve reads by priority then due time in place of the one by due time,
-- and the priorities of dead letters (none yet).

ALTER TABLE alligator_tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

DROP INDEX IF EXISTS alligator_tasks_due;

CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, priority DESC, due, seq);

CREATE TABLE IF NOT EXISTS alligator_priority_dead (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    PRIMARY KEY (queue, task_id)
) WITHOUT ROWID;
