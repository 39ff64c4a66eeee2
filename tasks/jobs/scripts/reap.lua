-- Re-queue jobs whose lease lapsed. KEYS[1] running set, KEYS[2] webhook due set.
-- ARGV: 1 recoveries allowed, 2 batch size, 3 channel, 4 finished_at (wall clock),
-- 5 grace ms: a lease must have lapsed this long before, so a worker that was merely cut
-- off from Redis for a while gets to renew before its jobs are taken away.
-- Returns {requeued, failed}.
--!include gateway/scripts/clock.lua
--!include gateway/scripts/keys.lua
--!include tasks/jobs/scripts/on_terminal.lua
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[5]),
  'LIMIT', 0, tonumber(ARGV[2]))
local requeued, failed = 0, 0
for _, id in ipairs(lapsed) do
  redis.call('ZREM', KEYS[1], id)
  local key = job_key(id)
  if redis.call('HGET', key, 'status') == 'running' then
    redis.call('HDEL', key, 'lease')
    local lost = redis.call('HINCRBY', key, 'recoveries', 1)
    if lost > tonumber(ARGV[1]) then
      local error = cjson.encode({type = 'worker_lost', message =
        'the job lost its worker ' .. lost .. ' times; giving up'})
      redis.call('HSET', key, 'status', 'failed', 'error', error, 'finished_at', ARGV[4])
      on_terminal(KEYS[2], key, id, 'failed')
      redis.call('PUBLISH', ARGV[3], id .. ' failed')
      failed = failed + 1
    else
      redis.call('HSET', key, 'status', 'queued')
      local m = redis.call('HMGET', key, 'message', 'message_key')
      if m[1] and m[2] then redis.call('RPUSH', m[2], m[1]) end
      requeued = requeued + 1
    end
  end
end
return {requeued, failed}
