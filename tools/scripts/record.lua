-- Report a call to a tool service. KEYS[1] the service's circuit. ARGV: 1 outcome
-- (ok | fail | neutral), 2 caller token, 3 failure threshold, 4 reset ms, 5 key TTL ms.
-- Returns the state after the call. The tool circuit's policy: only the probe decides an
-- open circuit; a probe without a verdict lets the next call probe at once.
--!include gateway/scripts/circuit.lua
local c = redis.call('HMGET', KEYS[1], 'state', 'probe', 'failures')
local state = c[1] or 'closed'
local outcome = ARGV[1]
local probe = state == 'half_open' and c[2] == ARGV[2]
if state ~= 'closed' and not probe then
  -- Stragglers that started before it opened say nothing about the service now.
  return state
end
if outcome == 'ok' then
  if state ~= 'closed' or tonumber(c[3] or '0') > 0 then redis.call('DEL', KEYS[1]) end
  return 'closed'
end
if outcome == 'neutral' then
  -- The probe ended without a verdict (our own error): let the next call probe.
  if probe then redis.call('HSET', KEYS[1], 'until', now) end
  return state
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if probe or failures >= tonumber(ARGV[3]) then
  state = 'open'
  circuit_trip(KEYS[1], tonumber(ARGV[4]))
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return state
