-- The tables of schema version 1, created in a new database (see schema.py).
-- Statements are run one at a time, split at each semicolon that ends a
-- line: none inside a statement, except in the $$-quoted function bodies,
-- whose semicolons never end a line.
--
-- Times are seconds since the epoch (double precision) on one clock: the
-- database server's (statement_timestamp()), or the time the caller passes
-- in when a test clock is injected; alligator_now() picks one.
-- CHECK constraints keep every stored number a finite, sane one, so a
-- hand-written row can be unreadable only in its bytea columns (a payload,
-- reason, result or record that is too long or not UTF-8): the reads
-- measure those in SQL and decode them leniently.

CREATE TABLE IF NOT EXISTS alligator_meta (
    key text PRIMARY KEY,
    value bigint NOT NULL
);

CREATE OR REPLACE FUNCTION alligator_now(fake double precision) RETURNS double precision
LANGUAGE sql STABLE AS $$ SELECT coalesce(fake, extract(epoch FROM statement_timestamp())::double precision) $$;

-- FIFO among tasks due at the same time: every push, release and requeue
-- draws the next number (a sequence: never rolled back, never waited on).
CREATE SEQUENCE IF NOT EXISTS alligator_seq;

CREATE TABLE IF NOT EXISTS alligator_tasks (
    queue text NOT NULL,
    task_id text NOT NULL,
    -- when a waiting task is due, or when a reserved one's lease ends
    due double precision NOT NULL CHECK (due > '-Infinity' AND due < 'Infinity'),
    seq bigint NOT NULL DEFAULT nextval('alligator_seq'),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    receipt text,
    payload bytea NOT NULL,
    PRIMARY KEY (queue, task_id)
);

-- Reserve's index: a queue's due tasks, oldest first.
CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, due, seq);

CREATE TABLE IF NOT EXISTS alligator_dead (
    queue text NOT NULL,
    task_id text NOT NULL,
    reason bytea NOT NULL,
    attempts integer NOT NULL CHECK (attempts >= 0),
    failed_at double precision NOT NULL CHECK (failed_at > '-Infinity' AND failed_at < 'Infinity'),
    seq bigint NOT NULL DEFAULT nextval('alligator_seq'),
    payload bytea NOT NULL,
    PRIMARY KEY (queue, task_id)
);

CREATE INDEX IF NOT EXISTS alligator_dead_seq ON alligator_dead (queue, seq);

CREATE TABLE IF NOT EXISTS alligator_finished (
    queue text NOT NULL,
    task_id text NOT NULL,
    status smallint NOT NULL,
    finished_at double precision NOT NULL CHECK (finished_at > '-Infinity' AND finished_at < 'Infinity'),
    PRIMARY KEY (queue, task_id)
);

CREATE INDEX IF NOT EXISTS alligator_finished_at ON alligator_finished (finished_at);

-- An infinite result_ttl keeps a result for ever: expires_at may be
-- +Infinity, never NaN (which PostgreSQL sorts above it).
CREATE TABLE IF NOT EXISTS alligator_results (
    queue text NOT NULL,
    task_id text NOT NULL,
    finished_at double precision NOT NULL CHECK (finished_at > '-Infinity' AND finished_at < 'Infinity'),
    expires_at double precision NOT NULL CHECK (expires_at <= 'Infinity'),
    result bytea NOT NULL,
    PRIMARY KEY (queue, task_id)
);

CREATE INDEX IF NOT EXISTS alligator_results_expires ON alligator_results (expires_at);

CREATE TABLE IF NOT EXISTS alligator_workers (
    worker_id text PRIMARY KEY,
    heartbeat_at double precision NOT NULL CHECK (heartbeat_at > '-Infinity' AND heartbeat_at < 'Infinity'),
    expires_at double precision NOT NULL CHECK (expires_at <= 'Infinity'),
    seq bigint NOT NULL DEFAULT nextval('alligator_seq'),
    record bytea NOT NULL
);

CREATE INDEX IF NOT EXISTS alligator_workers_expires ON alligator_workers (expires_at);

CREATE TABLE IF NOT EXISTS alligator_paused (
    kind text NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Idle workers LISTEN on alligator_work: every row that becomes waiting
-- (a push, a release, a requeue) notifies its queue's name, delivered when
-- its transaction commits (and never when it rolls back: a task enqueued in
-- the application's transaction wakes nobody until it exists). PostgreSQL
-- folds identical notifications of one transaction into one.
CREATE OR REPLACE FUNCTION alligator_notify_work() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN IF NEW.receipt IS NULL THEN PERFORM pg_notify('alligator_work', left(NEW.queue, 2000)); END IF; RETURN NULL; END $$;

DROP TRIGGER IF EXISTS alligator_tasks_notify ON alligator_tasks;

CREATE TRIGGER alligator_tasks_notify AFTER INSERT OR UPDATE OF receipt ON alligator_tasks
FOR EACH ROW EXECUTE FUNCTION alligator_notify_work();
