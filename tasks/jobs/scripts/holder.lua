-- The lease holder's check, shared by finish, checkpoint and requeue: returns {0, status}
-- if the caller (lease token ARGV[1]) no longer holds the job KEYS[1] (cancelled,
-- finished by another copy, or reaped).
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' or redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] then
  return {0, status or ''}
end
