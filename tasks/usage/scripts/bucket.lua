-- A tenant's token buckets (rpm, tpm), in one hash: ``<name>_cap`` (per minute),
-- ``<name>_level`` (what is left now; below 0 when actual usage outran an estimate) and
-- ``<name>_at`` (ms, Redis clock, of ``<name>_level``). A bucket refills at ``cap`` per
-- minute, up to ``cap``. Needs ``now`` (gateway/scripts/clock.lua).
local function bucket_level(key, name)
  local f = redis.call('HMGET', key, name .. '_cap', name .. '_level', name .. '_at')
  local cap = tonumber(f[1])
  if not cap then return nil, nil end
  local level = tonumber(f[2]) or cap
  local at = tonumber(f[3]) or now
  return math.min(cap, level + math.max(now - at, 0) * cap / 60000), cap
end

local function bucket_set(key, name, cap, level)
  redis.call('HSET', key, name .. '_cap', cap, name .. '_level', level, name .. '_at', now)
end
