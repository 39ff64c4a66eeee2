-- Claim a job (claim_job.lua) and, when its record says what its provider call will need
-- on this instance (``first_call``: "<instance> <place in line> <tokens>", written at
-- submission for the instance it was routed to) and the job is still on that instance,
-- admit that call and count it as the job's attempt in the same step
-- (limits/scripts/acquire_attempt.lua): one round trip instead of two before a plain
-- completion reaches its provider. A job moved to a fallback is claimed alone there.
-- KEYS: 1..10 the instance's limiter keys (limits.capacity_scripts), 11 the job's hash,
-- 12 the running set, 13 the deferred set. ARGV: 1 job id, 2 and 3 unused (the record's
-- ``first_call`` gives them), 4..12 as acquire.lua, 13 lease token, 14 attempt id, 15 job
-- lease ms, 16 started_at, 17 instance name.
-- Returns claim_job's reply when nothing was admitted; when claimed with an admission
-- verdict, {1, fields, acquire.lua's three values, tokens}. The fields are read before
-- the attempt is counted, as a claim followed by acquire_attempt.lua would read them.
--!include gateway/scripts/clock.lua
--!include gateway/scripts/circuit.lua
--!include gateway/scripts/job_attempt.lua
--!include limits/scripts/admit.lua
--!include tasks/jobs/scripts/claim_job.lua
local claimed = claim_job(KEYS[11], KEYS[12], KEYS[13], ARGV[1], ARGV[13], ARGV[15], ARGV[16])
if claimed[1] ~= 1 then return claimed end
local f = redis.call('HMGET', KEYS[11], 'provider', 'first_call')
if f[1] ~= ARGV[17] or not f[2] then return claimed end
local instance, order, need = string.match(f[2], '^(%S+) (%d+) (%d+)$')
if instance ~= ARGV[17] then return claimed end
local verdict = admit(tonumber(order), tonumber(need))
if verdict[1] == 1 then count_attempt(KEYS[11], ARGV[14]) end
return {1, claimed[2], verdict[1], verdict[2], verdict[3], tonumber(need)}
