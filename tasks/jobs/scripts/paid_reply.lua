-- A provider reply arrived: add the usage and cost it reports to what the job has paid
-- for, whoever holds the job now. A reply that lands after the lease was lost, or after a
-- cancel, is thus still on the record (``orphaned_usage`` is what was paid for beyond the
-- job's ``usage``), and in the tenant's usage (tasks/usage/scripts/count_usage.lua), in
-- the same step: the two always agree.
-- KEYS[1] job hash, KEYS[2] the tenant's usage today, KEYS[3] this month, KEYS[4] the
-- all-time usage counters, KEYS[5] the tenant's rate buckets.
-- ARGV: 1 prompt tokens, 2 completion tokens, 3 cost in USD ("" = no price), 4 the reply's
-- id (a client re-sending the script after a lost reply counts it once), 5 tenant,
-- 6 provider instance, 7 model, 8 cost in nano-USD, 9 usage retention (seconds).
-- Returns 1, or 0 when the record is gone (expired; the usage is counted all the same).
--!include gateway/scripts/clock.lua
--!include tasks/usage/scripts/count_usage.lua
--!include tasks/usage/scripts/bucket.lua
local input, output = tonumber(ARGV[1]), tonumber(ARGV[2])
local exists = redis.call('EXISTS', KEYS[1]) == 1
if exists then
  if redis.call('HGET', KEYS[1], 'paid_reply_id') == ARGV[4] then return 1 end
  redis.call('HSET', KEYS[1], 'paid_reply_id', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'paid_prompt_tokens', input)
  redis.call('HINCRBY', KEYS[1], 'paid_completion_tokens', output)
  if ARGV[3] ~= '' then redis.call('HINCRBYFLOAT', KEYS[1], 'paid_cost_usd', ARGV[3]) end
end
count_usage(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[9]), ARGV[5], ARGV[6], ARGV[7],
  input, output, tonumber(ARGV[8]))
-- tpm: the submission took an estimate from the bucket; the first reply trades it for what
-- was really used, every later one (a tool loop's turns, a fallback) takes its own.
local reserved = 0
if exists then
  reserved = tonumber(redis.call('HGET', KEYS[1], 'tpm_reserved') or '0')
  redis.call('HDEL', KEYS[1], 'tpm_reserved')
end
local level, cap = bucket_level(KEYS[5], 'tpm')
if level then bucket_set(KEYS[5], 'tpm', cap, level - (input + output - reserved)) end
if exists then return 1 end
return 0
