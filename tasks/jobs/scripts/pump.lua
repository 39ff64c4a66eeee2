-- Push due deferred jobs that are still queued to the front of their queues,
-- earliest-due first. A job that is no longer queued (cancelled while it waited) also
-- leaves its instance's waiting line, so it holds no place there.
-- KEYS[1] deferred set. ARGV[1] batch size. Returns {the count, ms until the next job is
-- due (-1: none deferred)}.
--!include gateway/scripts/due_set.lua
--!include gateway/scripts/keys.lua
local due = due_members(KEYS[1], tonumber(ARGV[1]))
for i = #due, 1, -1 do
  local id = due[i]
  redis.call('ZREM', KEYS[1], id)
  local m = redis.call('HMGET', job_key(id), 'status', 'message', 'message_key', 'provider')
  if m[4] then redis.call('ZREM', limit_key(m[4], 'deferred'), id) end
  if m[1] == 'queued' and m[2] and m[3] then
    redis.call('RPUSH', m[3], m[2])
  elseif m[4] then
    redis.call('ZREM', limit_key(m[4], 'waiting'), id)
    redis.call('ZREM', limit_key(m[4], 'waiting:until'), id)
    redis.call('HDEL', limit_key(m[4], 'waiting:n'), id)
  end
end
return {#due, next_due_in(KEYS[1])}
