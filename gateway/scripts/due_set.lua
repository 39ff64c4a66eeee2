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
