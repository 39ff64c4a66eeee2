-- A response-cache lookup and its count in one round trip: the entry (nil on a miss), and
-- the ``hit`` or ``miss`` field of the cluster-wide counters incremented.
-- KEYS[1] the entry (gateway.keys.response_cache), KEYS[2] the counters (CACHE_COUNTERS).
local entry = redis.call('GET', KEYS[1])
if entry then
  redis.call('HINCRBY', KEYS[2], 'hit', 1)
  return entry
end
redis.call('HINCRBY', KEYS[2], 'miss', 1)
return false
