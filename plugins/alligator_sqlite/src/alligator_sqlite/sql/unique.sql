-- The queries of unique keys (see alligator_sqlite/unique.py), read by name
-- as queries.sql is. A key's record: its holder's id, the mode it was pushed
-- with, and when the hold ends at the latest. Anyone who can write the file
-- can plant a record: each column is read as what it should be only when it
-- is (text as bytes, decoded in Python; until as a number), else NULL, and a
-- record with a NULL holds nothing.

-- name: unique_record
SELECT
    CASE WHEN typeof(holder) IN ('text', 'blob') THEN CAST(holder AS BLOB) END,
    CASE WHEN typeof(mode) IN ('text', 'blob') THEN CAST(mode AS BLOB) END,
    CASE WHEN typeof(until) IN ('real', 'integer') THEN until END
FROM alligator_unique_keys WHERE queue = :queue AND key = :key

-- name: write_unique
INSERT OR REPLACE INTO alligator_unique_keys (queue, key, holder, mode, until)
VALUES (:queue, :key, :holder, :mode, :until)

-- name: drop_ended_unique
-- The records past their end, one range of the (queue, until) index: a
-- record whose holder ended earlier stays until then. (An end planted as text
-- sorts after every number: never dropped here, it holds nothing, and the next
-- push of its key replaces it.)
DELETE FROM alligator_unique_keys WHERE queue = :queue AND until <= :now

-- name: unique_page
-- One page of a queue's records that may still hold, by key; keys over
-- :max_bytes bytes (planted) are left out, never read.
SELECT
    CAST(key AS BLOB),
    CASE WHEN typeof(holder) IN ('text', 'blob') THEN CAST(holder AS BLOB) END,
    CASE WHEN typeof(mode) IN ('text', 'blob') THEN CAST(mode AS BLOB) END,
    until
FROM alligator_unique_keys
WHERE queue = :queue AND typeof(until) IN ('real', 'integer') AND until > :now
    AND length(CAST(key AS BLOB)) <= :max_bytes AND length(CAST(holder AS BLOB)) <= :max_bytes
ORDER BY key LIMIT :limit OFFSET :offset

-- name: drop_queue_unique
DELETE FROM alligator_unique_keys WHERE queue = :queue
