-- Record one delivery attempt, once. KEYS[1] record hash, KEYS[2] due set, KEYS[3] dead
-- set. ARGV: 1 member, 2 the attempt count the attempt was made at, 3 the attempt (JSON),
-- 4 outcome ("delivered", "retry", "dead"), 5 retry delay ms. Returns 1, or 0 when
-- another copy recorded first (or the delivery is no longer pending).
--!include gateway/scripts/due_set.lua
if redis.call('HGET', KEYS[1], 'wh_status') ~= 'pending' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'wh_attempt_count') or '0') ~= tonumber(ARGV[2]) then
  return 0
end
local list = redis.call('HGET', KEYS[1], 'wh_attempts')
if not list or list == '[]' then
  list = '[' .. ARGV[3] .. ']'
else
  list = string.sub(list, 1, -2) .. ',' .. ARGV[3] .. ']'
end
redis.call('HSET', KEYS[1], 'wh_attempts', list)
redis.call('HINCRBY', KEYS[1], 'wh_attempt_count', 1)
if ARGV[4] == 'retry' then
  local at = now + tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'wh_next_at', at / 1000)
  schedule_at(KEYS[2], ARGV[1], at)
  return 1
end
redis.call('HDEL', KEYS[1], 'wh_next_at')
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[4] == 'delivered' then
  redis.call('HSET', KEYS[1], 'wh_status', 'delivered', 'wh_delivered_at', now / 1000)
else
  redis.call('HSET', KEYS[1], 'wh_status', 'dead')
  redis.call('ZADD', KEYS[3], now, ARGV[1])
end
return 1
