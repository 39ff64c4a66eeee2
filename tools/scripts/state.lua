-- A tool service's circuit now. KEYS[1] the service's circuit. Returns {state,
-- consecutive failures, ms until a probe}.
--!include gateway/scripts/clock.lua
local c = redis.call('HMGET', KEYS[1], 'state', 'failures', 'until')
local left = 0
if c[3] then left = math.max(tonumber(c[3]) - now, 0) end
return {c[1] or 'closed', tonumber(c[2] or '0'), left}
