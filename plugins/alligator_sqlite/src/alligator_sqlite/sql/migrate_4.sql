-- Schema version 4 to 5: one new table, so no schedule has a recorded tick after the upgrade.

CREATE TABLE IF NOT EXISTS alligator_schedule_ticks (
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    last_tick REAL NOT NULL,
    about TEXT NOT NULL,
    PRIMARY KEY (queue, name)
) WITHOUT ROWID;
