-- Drops what left the window (returning its tokens), lapsed in-flight leases and waiters
-- that stopped coming back. Needs ``now`` and ``window``; the instance's KEYS in the order
-- of limits.capacity_scripts.
local horizon = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', horizon, 'LIMIT', 0, 500)
while #old > 0 do
  local spent = 0
  for _, n in ipairs(redis.call('HMGET', KEYS[3], unpack(old))) do
    spent = spent + (tonumber(n) or 0)
  end
  redis.call('DECRBY', KEYS[4], spent)
  redis.call('HDEL', KEYS[3], unpack(old))
  redis.call('ZREM', KEYS[2], unpack(old))
  old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', horizon, 'LIMIT', 0, 500)
end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, 500)
if #stale > 0 then
  redis.call('ZREM', KEYS[6], unpack(stale))
  redis.call('ZREM', KEYS[7], unpack(stale))
  redis.call('HDEL', KEYS[8], unpack(stale))
end
