-- Schema version 4 to 5: the unique keys' table, empty after the upgrade.

CREATE TABLE IF NOT EXISTS alligator_unique_keys (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    holder TEXT NOT NULL,
    mode TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS alligator_unique_keys_until ON alligator_unique_keys (queue, until);
