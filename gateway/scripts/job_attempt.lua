-- A job's attempt (a provider call, a tool job's run) is counted on its record before it is
-- made, and only while the caller still holds the job: a worker killed mid-call leaves the
-- call counted, and a job cancelled or taken over meanwhile is not called at all. Shared by
-- tasks/jobs/scripts/start_attempt.lua (the attempt alone) and
-- limits/scripts/acquire_attempt.lua (the attempt in the same step as the call's admission).
--
-- ``attempt_holder(job_key, lease)``: true, or false and the job's current status ("" when
-- the record is gone), when ``lease`` no longer holds it (cancelled, finished by another
-- copy, or reaped).
-- ``count_attempt(job_key, attempt_id)``: the attempts after counting this one; a client
-- re-sending the script after a lost reply (same ``attempt_id``) counts it once.
local function attempt_holder(job_key, lease)
  local f = redis.call('HMGET', job_key, 'status', 'lease')
  if f[1] ~= 'running' or f[2] ~= lease then return false, f[1] or '' end
  return true, 'running'
end

local function count_attempt(job_key, attempt_id)
  local f = redis.call('HMGET', job_key, 'attempt_id', 'attempts')
  if f[1] == attempt_id then return tonumber(f[2]) end
  redis.call('HSET', job_key, 'attempt_id', attempt_id)
  return redis.call('HINCRBY', job_key, 'attempts', 1)
end
