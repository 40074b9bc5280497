-- Schema version 4 to 5: a priority per task (0 for every task already
-- queued), the index reserve reads by priority then due time in place of the
-- one by due time, and the priorities of dead letters (none yet).

ALTER TABLE alligator_tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

DROP INDEX IF EXISTS alligator_tasks_due;

CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, priority DESC, due, seq);

CREATE TABLE IF NOT EXISTS alligator_priority_dead (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    PRIMARY KEY (queue, task_id)
) WITHOUT ROWID;
