-- The succeeded script.
-- ARGV: now, status_ttl, offset, limit, max_payload_bytes, max_task_id_bytes.
-- Returns (id, kind, result, reason, acked at) flattened, for the succeeded
-- tasks status() says SUCCESS for, newest first (equal times: the greater id
-- first, as ZREVRANGEBYSCORE orders them); kind as FINISHED says it.
-- KEYS: succeeded results result_expiry members receipts
-- include: arguments.lua
-- include: leases.lua
-- include: records.lua
-- include: results.lua

local now = clock()
local ttl = ttl_arg(ARGV[2])
local offset = whole(ARGV[3], 'offset', 0)
local limit = whole(ARGV[4], 'limit', 1)
local max = whole(ARGV[5], 'max_payload_bytes', 0)
local max_id = whole(ARGV[6], 'max_task_id_bytes', 1)
local horizon = fmt(now - ttl)
-- An id pushed again keeps its old score until it finishes again, but status()
-- no longer calls it SUCCESS: skipped, and not counted in the offset either.
local out, skip, want, start = {}, offset, limit, 0
local chunk = math.max(limit, 100)
while want > 0 do
  local page = redis.call('ZREVRANGEBYSCORE', succeeded, '+inf', horizon, 'WITHSCORES', 'LIMIT', start, chunk)
  for i = 1, #page, 2 do
    local id = page[i]
    if want > 0 and not live(id) then
      if skip > 0 then
        skip = skip - 1
      else
        local kept = kept_result(id, now, max) or {'S', '', ''}
        for _, field in ipairs({cut_id(id, max_id), kept[1], kept[2], kept[3], page[i + 1]}) do
          out[#out + 1] = field
        end
        want = want - 1
      end
    end
  end
  if #page < chunk * 2 then break end
  start = start + chunk
end
return out
