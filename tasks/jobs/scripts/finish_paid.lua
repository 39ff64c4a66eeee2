-- A job's final answer: count what its provider reply used and cost (record_paid.lua,
-- whoever holds the job: a reply is paid for even if its answer is dropped), then record
-- the terminal outcome if the caller still holds the lease (finish.lua), in one step
-- instead of two round trips.
-- KEYS[1] job hash, KEYS[2] running set, KEYS[3] webhook due set, KEYS[4] the tenant's
-- usage today, KEYS[5] this month, KEYS[6] the all-time usage counters, KEYS[7] the
-- tenant's rate buckets. ARGV: 1 lease token, 2 terminal status, 3 channel, 4 job id,
-- 5 failures increment, 6..14 the reply as paid_reply.lua takes it, 15.. field/value
-- pairs ("" deletes).
-- Returns {1, status} or {0, current status}.
--!include tasks/jobs/scripts/record_paid.lua
--!include tasks/jobs/scripts/end_held.lua
record_paid(KEYS[1], KEYS[4], KEYS[5], KEYS[6], KEYS[7], 6)
--!include tasks/jobs/scripts/holder.lua
return end_held(15)
