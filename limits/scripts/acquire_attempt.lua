-- Admit one provider call for a job and count it as the job's attempt, in one step: the
-- limiter's admission (acquire.lua, whose KEYS and ARGV this script takes first) and the
-- attempt count (gateway/scripts/job_attempt.lua) in one round trip instead of two.
-- KEYS[11] the job's hash. ARGV[13] the job's lease token, ARGV[14] the attempt's id.
-- Returns what acquire.lua returns, or {-2, 0, current status} when the lease no longer
-- holds the job (cancelled, finished, or taken over): then nothing is taken, the job
-- leaves the instance's waiting line, and the call must not be made.
--!include gateway/scripts/clock.lua
--!include gateway/scripts/circuit.lua
--!include gateway/scripts/job_attempt.lua
--!include limits/scripts/admit.lua
local held, status = attempt_holder(KEYS[11], ARGV[13])
if not held then
  -- It will not come back for its place: a freed slot must not wait for it.
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('ZREM', KEYS[7], ARGV[1])
  redis.call('HDEL', KEYS[8], ARGV[1])
  return {-2, 0, status}
end
local verdict = admit(tonumber(ARGV[2]), tonumber(ARGV[3]))
if verdict[1] == 1 then count_attempt(KEYS[11], ARGV[14]) end
return verdict
