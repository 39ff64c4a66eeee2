-- Record a job's terminal outcome, if the caller still holds its lease. KEYS[1] job hash,
-- KEYS[2] running set, KEYS[3] webhook due set. ARGV: 1 lease token, 2 terminal status,
-- 3 channel, 4 job id, 5 failures increment (failed attempts: the retry budget's count),
-- 6.. field/value pairs ("" deletes).
-- Returns {1, status} or {0, current status}.
--!include tasks/jobs/scripts/holder.lua
--!include gateway/scripts/clock.lua
--!include tasks/jobs/scripts/end_held.lua
return end_held(6)
