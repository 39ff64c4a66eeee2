-- A provider reply arrived: count what it used and cost on the job, whoever holds it, and
-- in the tenant's usage (tasks/jobs/scripts/record_paid.lua).
-- KEYS[1] job hash, KEYS[2] the tenant's usage today, KEYS[3] this month, KEYS[4] the
-- all-time usage counters, KEYS[5] the tenant's rate buckets.
-- ARGV: 1 prompt tokens, 2 completion tokens, 3 cost in USD ("" = no price), 4 the reply's
-- id (a client re-sending the script after a lost reply counts it once), 5 tenant,
-- 6 provider instance, 7 model, 8 cost in nano-USD, 9 usage retention (seconds).
-- Returns 1, or 0 when the record is gone (expired; the usage is counted all the same).
--!include tasks/jobs/scripts/record_paid.lua
return record_paid(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], 1)
