-- Kept results and the done channel.
-- Shared helpers, pulled into a script by its `-- include: results.lua` line.
-- include: arguments.lua
-- include: utf8.lua

-- A succeeded task's kept result as finished() hands it out: {kind, value,
-- reason, stored at} with kind 'R' (handed out) or 'S' (withheld: the reason
-- says why); nil when none is kept or it expired. Measured, never read, when
-- over max bytes.
local function kept_result(id, now, max)
  local expires = redis.call('ZSCORE', result_expiry, id)
  if not (expires and tonumber(expires) > now) then return nil end
  local stored_at = redis.call('HGET', results, 't:' .. id) or ''
  local size = redis.call('HSTRLEN', results, 'v:' .. id)
  if size > max then
    return {'S', '', string.format(__TOO_LARGE__, __RESULT__, size, max), stored_at}
  end
  local value = redis.call('HGET', results, 'v:' .. id)
  if not value then return nil end
  if not utf8(value) then return {'S', '', string.format(__NOT_UTF8__, __RESULT__), stored_at} end
  return {'R', value, '', stored_at}
end
-- Publishes the ids of tasks that just finished on the queue's done channel,
-- each as "<bytes>:<id>", for wait_finished. An id that is not UTF-8 is left
-- out: no caller can wait for it (the client decodes messages as UTF-8).
local function announce(ids)
  local parts = {}
  for _, id in ipairs(ids) do
    if utf8(id) then parts[#parts + 1] = int(#id) .. ':' .. id end
  end
  if #parts > 0 then redis.call('PUBLISH', done, table.concat(parts)) end
end
