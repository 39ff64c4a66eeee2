-- A provider reply arrived: add the usage and cost it reports to what the job has paid
-- for, whoever holds the job now. A reply that lands after the lease was lost, or after a
-- cancel, is thus still on the record (``orphaned_usage`` is what was paid for beyond the
-- job's ``usage``). KEYS[1] job hash. ARGV: 1 prompt tokens, 2 completion tokens, 3 cost
-- in USD ("" = no price). Returns 1, or 0 when the record is gone (expired).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'paid_prompt_tokens', tonumber(ARGV[1]))
redis.call('HINCRBY', KEYS[1], 'paid_completion_tokens', tonumber(ARGV[2]))
if ARGV[3] ~= '' then redis.call('HINCRBYFLOAT', KEYS[1], 'paid_cost_usd', ARGV[3]) end
return 1
