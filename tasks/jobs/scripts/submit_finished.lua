-- Create a job that is already finished and is never queued: a completion answered from
-- the response cache (tasks.cache) by the API. The record, the tenant index and the
-- idempotency key as ``submit.lua`` keeps them, then what every job's end brings
-- (``on_terminal.lua``: its webhook scheduled), in the same step, except the count in the
-- usage counters: no provider ran (the cache's own counters count the hit).
-- KEYS[1] job hash, KEYS[2] tenant index, KEYS[3] idempotency key ("" = none), KEYS[4]
-- webhook due set. ARGV: 1 ttl seconds, 2 job id, 3 lex bound below which index entries
-- expired, 4 the (terminal) status, 5.. field/value pairs. Returns {1, id} when created,
-- {0, existing id} when the idempotency key already names a live job.
--!include gateway/scripts/clock.lua
--!include tasks/jobs/scripts/on_terminal.lua
--!include tasks/jobs/scripts/store_new_job.lua
local existing = live_job_for_key()
if existing then return {0, existing} end
store_new_job(ARGV[1], 0, ARGV[2], ARGV[3], 5)
on_terminal(KEYS[4], KEYS[1], ARGV[2], ARGV[4], false)
return {1, ARGV[2]}
