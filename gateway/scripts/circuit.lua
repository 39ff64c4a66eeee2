-- The circuit breaker state machine both breakers share: a provider instance's (limits,
-- keys.circuit) and a tool service's (tools.circuit, keys.tool_circuit). A hash: state
-- (closed | open | half_open; missing = closed), failures, until (ms: when an open circuit
-- may be probed, or when a half-open probe's lease lapses), probe (the probing caller's
-- token, tools only), opened_at (ms).
--
-- closed --(failures reach the threshold)--> open --(until passes)--> half_open: one
-- caller probes; its verdict closes or re-opens the circuit. How a call's outcome counts
-- (who may close it, stragglers) is each breaker's own policy, in its record script.
--!include gateway/scripts/clock.lua

-- May a call go now? Returns 'closed' (go), 'probe' (go as the probe: the caller marks it
-- with circuit_start_probe once it does go), or 'open' / 'probing' (no) with the ms to
-- wait: until the reset time, or while a probe is out at most ``probing_wait_ms``, since
-- its verdict may come any moment.
local function circuit_admit(key, probing_wait_ms)
  local c = redis.call('HMGET', key, 'state', 'until')
  if c[1] ~= 'open' and c[1] ~= 'half_open' then return 'closed', 0 end
  local reopen = tonumber(c[2] or '0')
  if now < reopen then
    if c[1] == 'open' then return 'open', reopen - now end
    return 'probing', math.min(reopen - now, probing_wait_ms)
  end
  return 'probe', 0
end

-- The caller is the probe for ``probe_ms``; after that the next caller probes instead.
-- ``token`` (optional) names it, for breakers that hear only the probe's verdict.
local function circuit_start_probe(key, probe_ms, token)
  redis.call('HSET', key, 'state', 'half_open', 'until', now + probe_ms)
  if token then redis.call('HSET', key, 'probe', token) end
end

-- Open the circuit for ``reset_ms``.
local function circuit_trip(key, reset_ms)
  redis.call('HSET', key, 'state', 'open', 'until', now + reset_ms, 'opened_at', now)
  redis.call('HDEL', key, 'probe')
end
