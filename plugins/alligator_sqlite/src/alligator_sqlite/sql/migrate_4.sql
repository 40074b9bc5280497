-- Schema version 4 to 5: new tables only, empty after the upgrade: the unique keys,
-- and each schedule's last tick (so no schedule has a recorded tick yet).

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
