-- Schema version 4 to 5: the tables of rate limits and concurrency slots per
-- key (see limiting.py), empty, so no key is limited after the upgrade.

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
