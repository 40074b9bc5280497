-- Calling one command on many members at once.
-- Shared helpers, pulled into a script by its `-- include: batch.lua` line.

-- A call from Lua costs about as much as the work on one member, so a batch
-- of acks or reservations sends each command once for all its members, in
-- chunks small enough for Lua's unpack (its stack holds some 8,000 values).
-- The chunk is a multiple of 2, 3 and 4, so pairs and fours laid out flat
-- (ZADD's score and member, HSET's fields and values) are never split.
local CHUNK = 960
-- Calls command on key with every value of list, in chunks. Returns the
-- replies concatenated when they are lists (HMGET), else an empty list.
local function each_chunk(command, key, list)
  local replies = {}
  for first = 1, #list, CHUNK do
    local reply = redis.call(command, key, unpack(list, first, math.min(first + CHUNK - 1, #list)))
    if type(reply) == 'table' then
      for i = 1, #reply do replies[#replies + 1] = reply[i] end
    end
  end
  return replies
end
