-- Cancel every queued or running job of an in-progress batch in one step; each cancelled
-- job counts through ``on_terminal``, and the last one ends the batch as ``cancelled``.
-- KEYS[1] batch hash, KEYS[2] the batch's job list, KEYS[3] webhook due set. ARGV[1]
-- wall-clock now (seconds), ARGV[2] job-done channel. Returns the batch status before.
--!include gateway/scripts/clock.lua
--!include gateway/scripts/keys.lua
--!include tasks/jobs/scripts/on_terminal.lua
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'in_progress' then return status or '' end
redis.call('HSET', KEYS[1], 'status', 'cancelling', 'cancel_requested_at', ARGV[1])
local error = cjson.encode({type = 'cancelled', message = 'the batch was cancelled'})
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
for _, id in ipairs(ids) do
  local key = job_key(id)
  local s = redis.call('HGET', key, 'status')
  if s == 'queued' or s == 'running' then
    redis.call('HSET', key, 'status', 'cancelled', 'finished_at', ARGV[1], 'error', error)
    redis.call('HDEL', key, 'lease')
    on_terminal(KEYS[3], key, id, 'cancelled')
    redis.call('PUBLISH', ARGV[2], id .. ' cancelled')
  end
end
return status
