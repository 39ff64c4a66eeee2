-- Create a job and push its Celery message, atomically. KEYS[1] job hash, KEYS[2] tenant
-- index, KEYS[3] idempotency key ("" = none), KEYS[4] the queue list the message goes to.
-- ARGV: 1 ttl seconds, 2 index score (always 0: the index is ordered by id, and ids are
-- time-ordered), 3 job id, 4 lex bound below which index entries expired, 5 the message
-- (the record keeps a copy, so a reaped or deferred job can be put back on its queue by a
-- script), 6.. field/value pairs. Returns {1, id} when created, {0, existing id} when the
-- idempotency key already names a live job.
--!include gateway/scripts/keys.lua
if KEYS[3] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing and redis.call('EXISTS', job_key(existing)) == 1 then
    return {0, existing}
  end
end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HSET', KEYS[1], 'message', ARGV[5], 'message_key', KEYS[4])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYLEX', KEYS[2], '-', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[1])
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[1]) end
redis.call('LPUSH', KEYS[4], ARGV[5])
return {1, ARGV[3]}
