-- The cluster-wide figures of one metrics scrape, read in one round trip (api.cluster_metrics).
-- KEYS[1] deferred set, KEYS[2] live workers (keys.WORKERS), KEYS[3] dead-lettered webhook
-- deliveries; then, per provider instance, ARGV[1] keys: its queue's priority lists, then
-- its in-flight leases, its index of deferred jobs, its waiting line's expiries and its
-- circuit hash. ARGV: 1 keys per instance, 2 oldest live heartbeat (seconds, the workers'
-- clocks), 3 how long (ms) a deferred job may be overdue before its index entry is checked
-- against the deferred set.
-- Returns {dead letters, {live worker members}, {queued, deferred, waiting, in flight,
-- circuit state, ms until the circuit may be probed} per instance}.
-- Cost: O(instances x priority lists) constant-time reads, plus at most 20 index entries per
-- instance checked against the deferred set; nothing is proportional to the backlog.
--!include gateway/scripts/clock.lua
local per = tonumber(ARGV[1])
local lists = per - 4
local overdue_ms = tonumber(ARGV[3])
local dead = redis.call('ZCARD', KEYS[3])
local workers = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], '+inf')
local instances = {}
for base = 4, #KEYS - per + 1, per do
  local queued = 0
  for i = base, base + lists - 1 do queued = queued + redis.call('LLEN', KEYS[i]) end
  local inflight = redis.call('ZCOUNT', KEYS[base + lists], '(' .. now, '+inf')
  local index = KEYS[base + lists + 1]
  -- An index entry long overdue whose job left the deferred set some other way (e.g. an
  -- operator's ZREM) would inflate the backlog for ever: drop a few such entries per scrape.
  local stale = redis.call('ZRANGEBYSCORE', index, '-inf', now - overdue_ms, 'LIMIT', 0, 20)
  for _, id in ipairs(stale) do
    if not redis.call('ZSCORE', KEYS[1], id) then redis.call('ZREM', index, id) end
  end
  local deferred = redis.call('ZCARD', index)
  local waiting = redis.call('ZCOUNT', KEYS[base + lists + 2], '(' .. now, '+inf')
  local c = redis.call('HMGET', KEYS[base + lists + 3], 'state', 'until')
  local probe_in = math.max(tonumber(c[2] or '0') - now, 0)
  instances[#instances + 1] = {queued, deferred, waiting, inflight, c[1] or 'closed', probe_in}
end
return {dead, workers, instances}
