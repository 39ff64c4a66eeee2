-- Give a held job back: to the deferred set, or straight to the front of its queue.
-- KEYS[1] job hash, KEYS[2] running set, KEYS[3] deferred set. ARGV: 1 lease token,
-- 2 job id, 3 delay ms (0 = push the message now), 4 failures increment, 5.. field/value
-- pairs (e.g. a new route and message). Returns {1, "queued"} or {0, current status}.
--!include tasks/jobs/scripts/set_fields.lua
--!include tasks/jobs/scripts/holder.lua
--!include gateway/scripts/due_set.lua
--!include gateway/scripts/keys.lua
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('HDEL', KEYS[1], 'lease')
-- A zero increment would store a 'failures' field the record leaves out at 0.
local failed = tonumber(ARGV[4])
if failed ~= 0 then redis.call('HINCRBY', KEYS[1], 'failures', failed) end
set_fields(5)
redis.call('ZREM', KEYS[2], ARGV[2])
local delay = tonumber(ARGV[3])
if delay > 0 then
  schedule_at(KEYS[3], ARGV[2], now + delay)
  -- Its instance's index of deferred jobs too (kept in step by pump and release), so a
  -- metrics scrape counts an instance's backlog without reading every deferred job.
  local instance = redis.call('HGET', KEYS[1], 'provider')
  if instance and instance ~= '' then
    redis.call('ZADD', limit_key(instance, 'deferred'), now + delay, ARGV[2])
  end
else
  local m = redis.call('HMGET', KEYS[1], 'message', 'message_key')
  if m[1] and m[2] then redis.call('RPUSH', m[2], m[1]) end
end
return {1, 'queued'}
