-- ``claim_job(job_key, running_key, deferred_key, job_id, lease, lease_ms, started_at)``:
-- start running a job under a lease, the body of claim.lua as a function so that
-- claim_admit.lua can admit the job's first provider call in the same step. Needs ``now``
-- (clock.lua). Returns {1, fields} when claimed, {0, status} when not ("running" = held
-- by a live lease, "deferred" = waiting in the deferred set), {-1} when the job does not
-- exist.
local function claim_job(job_key, running_key, deferred_key, job_id, lease, lease_ms, started_at)
  local status = redis.call('HGET', job_key, 'status')
  if not status then
    redis.call('ZREM', running_key, job_id)
    return {-1}
  end
  if status == 'running' then
    local expiry = redis.call('ZSCORE', running_key, job_id)
    local mine = redis.call('HGET', job_key, 'lease') == lease
    -- "mine": the client re-sent this script after a lost reply; the claim stands.
    if expiry and tonumber(expiry) > now and not mine then return {0, 'running'} end
  elseif status == 'queued' then
    -- A stale duplicate of the message must not cut a backoff or capacity wait short.
    local due = redis.call('ZSCORE', deferred_key, job_id)
    if due and tonumber(due) > now then return {0, 'deferred'} end
  else
    return {0, status}
  end
  redis.call('HSET', job_key, 'status', 'running', 'lease', lease, 'started_at', started_at)
  redis.call('ZADD', running_key, now + tonumber(lease_ms), job_id)
  redis.call('ZREM', deferred_key, job_id)
  return {1, redis.call('HGETALL', job_key)}
end
