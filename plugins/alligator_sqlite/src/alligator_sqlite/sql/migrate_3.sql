-- Schema version 3 to 4: one new table, so nothing is paused after the upgrade.

CREATE TABLE IF NOT EXISTS alligator_paused (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;
