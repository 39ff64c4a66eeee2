-- Create a job and push its Celery message, atomically. KEYS[1] job hash, KEYS[2] tenant
-- index, KEYS[3] idempotency key ("" = none), KEYS[4] the queue list the message goes to.
-- ARGV: 1 ttl seconds, 2 index score (always 0: the index is ordered by id, and ids are
-- time-ordered), 3 job id, 4 lex bound below which index entries expired, 5 the message
-- (the record keeps a copy, so a reaped or deferred job can be put back on its queue by a
-- script), 6.. field/value pairs. Returns {1, id} when created, {0, existing id} when the
-- idempotency key already names a live job.
--!include tasks/jobs/scripts/store_new_job.lua
local existing = live_job_for_key()
if existing then return {0, existing} end
store_new_job(ARGV[1], ARGV[2], ARGV[3], ARGV[4], 6)
redis.call('HSET', KEYS[1], 'message', ARGV[5], 'message_key', KEYS[4])
redis.call('LPUSH', KEYS[4], ARGV[5])
return {1, ARGV[3]}
