-- Admit one submission of a tenant, or say why not: exact across every API process, since
-- the check and the debit are one step. KEYS[1] the tenant's rate hash (bucket.lua),
-- KEYS[2] today's usage hash, KEYS[3] this month's. ARGV: 1 rpm, 2 tpm ("" = no limit),
-- 3 the request's estimated tokens, 4 daily and 5 monthly budget in nano-USD ("" = none),
-- 6 requests (a batch takes one per document).
-- Returns {1, 0, ""} admitted; {2, spent nano-USD, budget name} a budget is spent;
-- {3, ms until it would be admitted, limit name} over a rate.
--!include gateway/scripts/clock.lua
--!include tasks/usage/scripts/bucket.lua
local budgets = {{ARGV[4], KEYS[2], 'daily_budget_usd'}, {ARGV[5], KEYS[3], 'monthly_budget_usd'}}
for _, b in ipairs(budgets) do
  if b[1] ~= '' then
    local spent = tonumber(redis.call('HGET', b[2], 'cost_nusd') or '0')
    if spent >= tonumber(b[1]) then return {2, spent, b[3]} end
  end
end
local want = {{ARGV[1], 'rpm', tonumber(ARGV[6])}, {ARGV[2], 'tpm', tonumber(ARGV[3])}}
local levels = {}
for i, w in ipairs(want) do
  if w[1] ~= '' then
    local cap = tonumber(w[1])
    redis.call('HSET', KEYS[1], w[2] .. '_cap', cap)
    local level = bucket_level(KEYS[1], w[2])
    -- A request bigger than a whole minute's tokens waits for a full bucket, not forever.
    local need = math.min(w[3], cap)
    if level < need then
      return {3, math.ceil((need - level) * 60000 / cap), w[2]}
    end
    levels[i] = {cap, level - w[3]}
  end
end
for i, w in ipairs(want) do
  if levels[i] then bucket_set(KEYS[1], w[2], levels[i][1], levels[i][2]) end
end
redis.call('EXPIRE', KEYS[1], 3600)
return {1, 0, ''}
