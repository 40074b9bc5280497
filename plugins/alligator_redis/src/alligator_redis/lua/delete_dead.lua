-- The delete_dead script.
-- ARGV: id. Returns 1 if that dead letter was deleted, else 0.
-- KEYS: dead dead_order failed
-- include: retention.lua

return forget(ARGV[1])
