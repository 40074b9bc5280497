-- Unique keys: reading a key's record and judging whether it still holds.
-- Shared helpers, pulled into a script by its `-- include: unique_keys.lua` line.
-- Needs arguments.lua and live_state.lua.
--
-- A record is "<mode>\t<until>\t<holder id>" in the unique hash, under its
-- key, and the key is in unique_ends scored by until. The rule of whether it
-- holds is alligator.unique_store.holds, written again here in Lua.

-- Records of ended holds dropped at most per call.
local UNIQUE_SWEEP = 100

-- The record's (mode, until, holder), or nil for one that cannot be read
-- (planted): it holds nothing, and the push replaces it.
local function unique_record(text)
  if type(text) ~= 'string' then return nil end
  local mode, until_text, holder = string.match(text, '^([^\t]*)\t([^\t]*)\t(.+)$')
  local until_ = tonumber(until_text)
  if not holder or not until_ or until_ ~= until_ or until_ == math.huge then return nil end
  return mode, until_, holder
end

local function key_holds(mode, holder, until_, now)
  if not (now < until_) then return false end
  if mode == 'throttle' then return true end
  local state = live_state(holder, now)
  if mode == 'until_finished' then return state ~= nil end
  if mode == 'until_started' or mode == 'debounce' then
    return state == __WAITING__ or state == __DELAYED__
  end
  return false
end

-- Drops up to UNIQUE_SWEEP records whose hold ended by now: the hash stays as
-- small as the holds that may still be in force.
local function sweep_unique(now)
  local ended = redis.call('ZRANGEBYSCORE', unique_ends, '-inf', fmt(now), 'LIMIT', 0, UNIQUE_SWEEP)
  for _, key in ipairs(ended) do
    redis.call('HDEL', unique, key)
    redis.call('ZREM', unique_ends, key)
  end
end
