-- An attempt is about to start (a provider call, or a tool job's tool run): count it, if
-- the caller still holds the job. Counted before the call is made, so a worker killed
-- mid-call leaves the call counted, and a job cancelled or taken over meanwhile is not
-- called at all. KEYS[1] job hash. ARGV[1] lease token, ARGV[2] the attempt's id (a
-- client re-sending the script after a lost reply counts it once).
-- Returns {1, attempts} or {0, current status}.
--!include tasks/jobs/scripts/holder.lua
if redis.call('HGET', KEYS[1], 'attempt_id') == ARGV[2] then
  return {1, tonumber(redis.call('HGET', KEYS[1], 'attempts'))}
end
redis.call('HSET', KEYS[1], 'attempt_id', ARGV[2])
return {1, redis.call('HINCRBY', KEYS[1], 'attempts', 1)}
