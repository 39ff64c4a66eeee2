-- A due set: a sorted set of members scored by when each is due (ms, Redis clock). The
-- deferred jobs (keys.DEFERRED) and the webhook deliveries (keys.WEBHOOKS_DUE) are both
-- one; whoever takes a due member either removes it or re-scores it, in the same script.
--!include gateway/scripts/clock.lua

-- Make ``member`` due at ``at`` (ms), replacing any earlier time.
local function schedule_at(set_key, member, at)
  redis.call('ZADD', set_key, at, member)
end

-- Up to ``limit`` members due now, earliest first.
local function due_members(set_key, limit)
  return redis.call('ZRANGEBYSCORE', set_key, '-inf', now, 'LIMIT', 0, limit)
end

-- Milliseconds until the set's next member is due (0 when one is due already), -1 when the
-- set is empty: the pumps sleep until then rather than polling an idle set.
local function next_due_in(set_key)
  local first = redis.call('ZRANGE', set_key, 0, 0, 'WITHSCORES')
  if #first == 0 then return -1 end
  return math.max(tonumber(first[2]) - now, 0)
end
