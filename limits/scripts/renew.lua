-- Extend one call's in-flight lease. KEYS[1] the instance's in-flight set. ARGV[1] lease
-- ms, ARGV[2] admission token. Also extends the set's own TTL (set at admission), so a
-- renewed call outliving it keeps its slot.
--!include gateway/scripts/clock.lua
local renewed = redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 4)
return renewed
