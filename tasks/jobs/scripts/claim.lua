-- Start running a job under a lease. KEYS[1] job hash, KEYS[2] running set, KEYS[3]
-- deferred set. ARGV: 1 lease token, 2 lease ms, 3 started_at (wall clock, for the
-- record), 4 job id. Returns claim_job's reply (claim_job.lua).
--!include gateway/scripts/clock.lua
--!include tasks/jobs/scripts/claim_job.lua
return claim_job(KEYS[1], KEYS[2], KEYS[3], ARGV[4], ARGV[1], ARGV[2], ARGV[3])
