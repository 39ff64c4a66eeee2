-- Append events to a streaming job's stream, only while the caller holds the job's lease:
-- a worker that lost its job (reaped, cancelled, finished by another copy) cannot splice
-- its output into the stream of the attempt that replaced it.
-- KEYS[1] job hash, KEYS[2] job stream. ARGV: 1 lease token, 2 approximate max length,
-- 3.. events (JSON). The stream expires with the record.
-- Returns {1, id of the last event} or {0, current status}.
--!include tasks/jobs/scripts/holder.lua
local id = ''
for i = 3, #ARGV do
  id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {1, id}
