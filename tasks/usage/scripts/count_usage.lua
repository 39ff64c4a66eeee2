-- Count one paid provider reply in the tenant's usage, in the same step as the job record
-- (``tasks/jobs/scripts/paid_reply.lua`` includes this file):
--
-- - the UTC day's hash: ``requests``, ``input_tokens``, ``output_tokens``, ``cost_nusd``,
--   and the same four per model (``model:<name>:<field>``) and per provider instance
--   (``provider:<name>:<field>``), so ``GET /v1/usage`` reads one hash a day;
-- - the UTC month's hash: the four totals (the monthly budget reads it);
-- - the all-time counters hash (``/metrics``), one field per label set.
--
-- Cost is counted in integer nano-USD (HINCRBY: exact sums, no float drift; a job record's
-- costs have 8 decimal places, so each is a whole number of nano-USD).
local function count_group(key, prefix, input, output, nusd)
  redis.call('HINCRBY', key, prefix .. 'requests', 1)
  redis.call('HINCRBY', key, prefix .. 'input_tokens', input)
  redis.call('HINCRBY', key, prefix .. 'output_tokens', output)
  redis.call('HINCRBY', key, prefix .. 'cost_nusd', nusd)
end

local function count_usage(day_key, month_key, counters_key, ttl, tenant, instance, model,
                           input, output, nusd)
  count_group(day_key, '', input, output, nusd)
  count_group(day_key, 'model:' .. model .. ':', input, output, nusd)
  count_group(day_key, 'provider:' .. instance .. ':', input, output, nusd)
  count_group(month_key, '', input, output, nusd)
  redis.call('EXPIRE', day_key, ttl)
  redis.call('EXPIRE', month_key, ttl)
  redis.call('HINCRBY', counters_key, cjson.encode({'tokens', tenant, instance, model, 'input'}), input)
  redis.call('HINCRBY', counters_key, cjson.encode({'tokens', tenant, instance, model, 'output'}), output)
  redis.call('HINCRBY', counters_key, cjson.encode({'cost', tenant, instance, model}), nusd)
end
