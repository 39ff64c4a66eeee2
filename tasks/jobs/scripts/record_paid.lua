-- A provider reply arrived: add the usage and cost it reports to what the job has paid
-- for, whoever holds the job now. A reply that lands after the lease was lost, or after a
-- cancel, is thus still on the record (``orphaned_usage`` is what was paid for beyond the
-- job's ``usage``), and in the tenant's usage (tasks/usage/scripts/count_usage.lua), in
-- the same step: the two always agree. Shared by paid_reply.lua (the reply alone) and
-- finish_paid.lua (a final answer's reply with the job's terminal state).
--
-- ``record_paid(job, day, month, counters, rate, a)``: the job hash, the tenant's usage
-- today and this month, the all-time usage counters, the tenant's rate buckets; the
-- reply in ARGV[a..a+8]: prompt tokens, completion tokens, cost in USD ("" = no price),
-- the reply's id (a client re-sending the script after a lost reply counts it once),
-- tenant, provider instance, model, cost in nano-USD, usage retention (seconds).
-- Returns 1, or 0 when the record is gone (expired; the usage is counted all the same).
--!include gateway/scripts/clock.lua
--!include tasks/usage/scripts/count_usage.lua
--!include tasks/usage/scripts/bucket.lua
local function record_paid(job, day, month, counters, rate, a)
  local input, output = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local exists = redis.call('EXISTS', job) == 1
  if exists then
    if redis.call('HGET', job, 'paid_reply_id') == ARGV[a + 3] then return 1 end
    redis.call('HSET', job, 'paid_reply_id', ARGV[a + 3])
    redis.call('HINCRBY', job, 'paid_prompt_tokens', input)
    redis.call('HINCRBY', job, 'paid_completion_tokens', output)
    if ARGV[a + 2] ~= '' then redis.call('HINCRBYFLOAT', job, 'paid_cost_usd', ARGV[a + 2]) end
  end
  count_usage(day, month, counters, tonumber(ARGV[a + 8]), ARGV[a + 4], ARGV[a + 5],
    ARGV[a + 6], input, output, tonumber(ARGV[a + 7]))
  -- tpm: the submission took an estimate from the bucket; the first reply trades it for
  -- what was really used, every later one (a tool loop's turns, a fallback) takes its own.
  local reserved = 0
  if exists then
    reserved = tonumber(redis.call('HGET', job, 'tpm_reserved') or '0')
    redis.call('HDEL', job, 'tpm_reserved')
  end
  local level, cap = bucket_level(rate, 'tpm')
  if level then bucket_set(rate, 'tpm', cap, level - (input + output - reserved)) end
  if exists then return 1 end
  return 0
end
