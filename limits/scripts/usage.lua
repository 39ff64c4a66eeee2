-- Read-only snapshot of an instance. KEYS: the instance's limiter keys
-- (limits.capacity_scripts). ARGV[1] window ms. Returns {requests in window, tokens in
-- window, in flight, waiting, cooldown ms left, circuit state, failures, circuit ms until
-- a probe}.
--!include gateway/scripts/clock.lua
local window = tonumber(ARGV[1])
local requests = redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf')
local tokens = 0
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. (now - window), '+inf')
for i = 1, #live, 500 do
  local chunk = {unpack(live, i, math.min(i + 499, #live))}
  for _, n in ipairs(redis.call('HMGET', KEYS[3], unpack(chunk))) do
    tokens = tokens + (tonumber(n) or 0)
  end
end
local inflight = redis.call('ZCOUNT', KEYS[5], '(' .. now, '+inf')
local waiting = redis.call('ZCOUNT', KEYS[7], '(' .. now, '+inf')
local cooldown = math.max(redis.call('PTTL', KEYS[9]), 0)
local c = redis.call('HMGET', KEYS[10], 'state', 'failures', 'until')
local state = c[1] or 'closed'
local probe_in = 0
if state ~= 'closed' then probe_in = math.max(tonumber(c[3] or '0') - now, 0) end
return {requests, tokens, inflight, waiting, cooldown, state, tonumber(c[2] or '0'), probe_in}
