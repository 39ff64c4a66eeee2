-- Record a job's terminal outcome, if the caller still holds its lease. KEYS[1] job hash,
-- KEYS[2] running set, KEYS[3] webhook due set. ARGV: 1 lease token, 2 terminal status,
-- 3 channel, 4 job id, 5 failures increment (failed attempts: the retry budget's count),
-- 6.. field/value pairs ("" deletes).
-- Returns {1, status} or {0, current status}.
--!include tasks/jobs/scripts/set_fields.lua
--!include tasks/jobs/scripts/holder.lua
--!include gateway/scripts/clock.lua
--!include tasks/jobs/scripts/on_terminal.lua
redis.call('HSET', KEYS[1], 'status', ARGV[2])
redis.call('HDEL', KEYS[1], 'lease')
redis.call('HINCRBY', KEYS[1], 'failures', tonumber(ARGV[5]))
set_fields(6)
on_terminal(KEYS[3], KEYS[1], ARGV[4], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[2])
return {1, ARGV[2]}
