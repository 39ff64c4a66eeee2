-- How many of a batch's jobs are running. KEYS[1] the batch's job list.
--!include gateway/scripts/keys.lua
local n = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('HGET', job_key(id), 'status') == 'running' then n = n + 1 end
end
return n
