-- finish.lua, appending the job's messages to its conversation session in the same step:
-- neither a crash nor a duplicate delivery can record one without the other, and
-- concurrent jobs on one session each append all of theirs.
-- KEYS[1] job hash, KEYS[2] running set, KEYS[3] session hash, KEYS[4] session messages
-- list, KEYS[5] session context hash, KEYS[6] webhook due set. ARGV[1..5] as for
-- finish.lua, ARGV[6] the session's tenant, ARGV[7] how many messages a session keeps,
-- ARGV[8] n, ARGV[9..8+n] the messages (JSON) to append, then field/value pairs.
-- Returns {1, status, appended (1, or 0 when the session has expired)} or {0, status}.
--!include tasks/jobs/scripts/set_fields.lua
--!include tasks/jobs/scripts/holder.lua
--!include gateway/scripts/clock.lua
--!include tasks/jobs/scripts/on_terminal.lua
local n = tonumber(ARGV[8])
local appended = 0
if redis.call('HGET', KEYS[3], 'tenant') == ARGV[6] then
  -- In slices: Lua's unpack has a limit of a few thousand values.
  for first = 9, 8 + n, 1000 do
    redis.call('RPUSH', KEYS[4], unpack(ARGV, first, math.min(first + 999, 8 + n)))
  end
  if n > 0 then redis.call('LTRIM', KEYS[4], -tonumber(ARGV[7]), -1) end
  local ttl = tonumber(redis.call('HGET', KEYS[3], 'ttl_seconds') or '0') * 1000
  if ttl > 0 then
    for i = 3, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
  appended = 1
end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
redis.call('HDEL', KEYS[1], 'lease')
-- A zero increment would store a 'failures' field the record leaves out at 0.
local failed = tonumber(ARGV[5])
if failed ~= 0 then redis.call('HINCRBY', KEYS[1], 'failures', failed) end
set_fields(9 + n)
on_terminal(KEYS[6], KEYS[1], ARGV[4], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[2])
return {1, ARGV[2], appended}
