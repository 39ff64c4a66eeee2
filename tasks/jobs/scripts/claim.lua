-- Start running a job under a lease. KEYS[1] job hash, KEYS[2] running set, KEYS[3]
-- deferred set. ARGV: 1 lease token, 2 lease ms, 3 started_at (wall clock, for the
-- record), 4 job id. Returns {1, fields} when claimed, {0, status} when not ("running" =
-- held by a live lease, "deferred" = waiting in the deferred set), {-1} when the job does
-- not exist.
--!include gateway/scripts/clock.lua
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {-1}
end
if status == 'running' then
  local expiry = redis.call('ZSCORE', KEYS[2], ARGV[4])
  local mine = redis.call('HGET', KEYS[1], 'lease') == ARGV[1]
  -- "mine": the client re-sent this script after a lost reply; the claim stands.
  if expiry and tonumber(expiry) > now and not mine then return {0, 'running'} end
elseif status == 'queued' then
  -- A stale duplicate of the message must not cut a backoff or capacity wait short.
  local due = redis.call('ZSCORE', KEYS[3], ARGV[4])
  if due and tonumber(due) > now then return {0, 'deferred'} end
else
  return {0, status}
end
redis.call('HSET', KEYS[1], 'status', 'running', 'lease', ARGV[1], 'started_at', ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[4])
return {1, redis.call('HGETALL', KEYS[1])}
