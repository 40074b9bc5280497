-- Schema version 1 to 2, in one transaction under the schema lock (see
-- schema.py); a new database runs schema.sql and then this, so a new store
-- and a migrated one are the same tables. Every task already queued keeps
-- its place: its priority is 0 (adding a column with a constant default
-- rewrites no row), and the new tables start empty, so no key is held, no
-- schedule has a recorded tick and nothing is limited.

-- Per-task priority (TaskPriority), -100 to 100. The CHECK keeps a
-- hand-written row from holding any other value, so reserve never meets one.
ALTER TABLE alligator_tasks ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 0
    CHECK (priority BETWEEN -100 AND 100);

-- Reserve's index, by priority then due time: reserve walks the priorities a
-- queue holds (one probe each) and reads each one's due range in order.
DROP INDEX IF EXISTS alligator_tasks_due;

CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, priority DESC, due, seq);

-- A dead letter keeps its task's priority, for requeue (0 for the letters of version 1).
ALTER TABLE alligator_dead ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 0
    CHECK (priority BETWEEN -100 AND 100);

-- Unique keys (UniqueKeys, see unique.py): the task holding each key of a
-- queue, its mode, and when the hold ends at the latest.
CREATE TABLE IF NOT EXISTS alligator_unique_keys (
    queue text NOT NULL,
    key text NOT NULL,
    holder text NOT NULL,
    mode text NOT NULL,
    until double precision NOT NULL CHECK (until > '-Infinity' AND until < 'Infinity'),
    PRIMARY KEY (queue, key)
);

CREATE INDEX IF NOT EXISTS alligator_unique_keys_until ON alligator_unique_keys (queue, until);

-- Each schedule's last enqueued tick, per queue (Scheduling, see scheduling.py).
CREATE TABLE IF NOT EXISTS alligator_schedule_ticks (
    queue text NOT NULL,
    name text NOT NULL,
    last_tick double precision NOT NULL CHECK (last_tick > '-Infinity' AND last_tick < 'Infinity'),
    about text NOT NULL,
    PRIMARY KEY (queue, name)
);

-- Rate limits and concurrency slots per key (Limiting, see limiting.py).
-- Keys are bytea: a limit key may hold any text, NUL included, which a text
-- column cannot. A key's GCRA time, with the index that drops past ones.
CREATE TABLE IF NOT EXISTS alligator_limit_rates (
    key bytea PRIMARY KEY,
    tat double precision NOT NULL CHECK (tat > '-Infinity' AND tat < 'Infinity'),
    count integer NOT NULL CHECK (count >= 1),
    per double precision NOT NULL CHECK (per > 0 AND per < 'Infinity')
);

CREATE INDEX IF NOT EXISTS alligator_limit_rates_tat ON alligator_limit_rates (tat);

-- The slots booked by holders over a rate.
CREATE TABLE IF NOT EXISTS alligator_limit_bookings (
    key bytea NOT NULL,
    holder text NOT NULL,
    slot double precision NOT NULL CHECK (slot > '-Infinity' AND slot < 'Infinity'),
    PRIMARY KEY (key, holder)
);

-- The concurrency slots held, each until the end of its lease.
CREATE TABLE IF NOT EXISTS alligator_limit_slots (
    key bytea NOT NULL,
    holder text NOT NULL,
    lease_end double precision NOT NULL CHECK (lease_end > '-Infinity' AND lease_end < 'Infinity'),
    lim integer NOT NULL CHECK (lim >= 1),
    PRIMARY KEY (key, holder)
);

-- The holders refused a slot lately, for the listing.
CREATE TABLE IF NOT EXISTS alligator_limit_waiters (
    key bytea NOT NULL,
    holder text NOT NULL,
    until double precision NOT NULL CHECK (until > '-Infinity' AND until < 'Infinity'),
    lim integer NOT NULL CHECK (lim >= 1),
    PRIMARY KEY (key, holder)
);
