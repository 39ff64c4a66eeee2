"""The Lua behind ``limits.capacity``. Each runs atomically on Redis's clock.

Keys of one instance (``keys.limit(instance, part)``), in the order every script takes them:

1. ``rpm``       zset: admission token → admitted at (ms). A sliding-log window: exact.
2. ``tpm``       zset: admission token → admitted at (ms).
3. ``tpm:n``     hash: admission token → tokens reserved (reconciled after the call).
4. ``tpm:sum``   string: total of ``tpm:n`` (kept in step by the same scripts).
5. ``inflight``  zset: admission token → lease expiry (ms). Lapsed leases are dropped.
6. ``waiting``   zset: job id → order (priority band, then submission time).
7. ``waiting:until`` zset: job id → when its waiting entry goes stale (ms).
8. ``waiting:n`` hash: job id → tokens it will ask for.
9. ``cooldown``  string with a TTL, set on a provider 429.
10. circuit hash (``keys.circuit``): state, failures, until (ms).
"""

from __future__ import annotations

from gateway.redis_clock import NOW_MS_LUA

LIMIT_PARTS = (
    "rpm",
    "tpm",
    "tpm:n",
    "tpm:sum",
    "inflight",
    "waiting",
    "waiting:until",
    "waiting:n",
    "cooldown",
)


# Drops what left the window (returning its tokens), lapsed in-flight leases and waiters
# that stopped coming back. Needs ``now`` and ``window``.
_PRUNE = """
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
"""

# ARGV: 1 job id, 2 order, 3 tokens needed, 4 rpm, 5 tpm, 6 max concurrency (0 = none),
# 7 lease ms, 8 admission token, 9 waiter grace ms, 10 window ms, 11 poll ms (the longest
# wait when no better estimate exists), 12 probe ms (how long a half-open probe may take).
# Returns {1, 0, "ok" | "probe"} when admitted, {0, wait ms, reason} when the job must
# wait, {-1, 0, "too_large"} when it can never fit.
#
# Jobs wait in order: a job is admitted only if the free capacity covers it and every
# job waiting ahead of it, so a backlog drains oldest-first (by priority band first) and
# a newer job cannot take the slot an older one is waiting for.
ACQUIRE_LUA = (
    NOW_MS_LUA
    + """
local job, order, need = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rpm, tpm, conc = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, poll = tonumber(ARGV[10]), tonumber(ARGV[11])
"""
    + _PRUNE
    + """
if tpm > 0 and need > tpm then
  redis.call('ZREM', KEYS[6], job)
  redis.call('ZREM', KEYS[7], job)
  redis.call('HDEL', KEYS[8], job)
  return {-1, 0, 'too_large'}
end
redis.call('ZADD', KEYS[6], order, job)
redis.call('HSET', KEYS[8], job, need)
local function deny(wait, reason)
  wait = math.max(math.floor(wait), 1)
  redis.call('ZADD', KEYS[7], now + wait + tonumber(ARGV[9]), job)
  for i = 6, 8 do redis.call('PEXPIRE', KEYS[i], window + wait + tonumber(ARGV[9])) end
  return {0, wait, reason}
end

local cooling = redis.call('PTTL', KEYS[9])
if cooling > 0 then return deny(cooling, 'cooldown') end
local circuit = redis.call('HMGET', KEYS[10], 'state', 'until')
local probe = false
if circuit[1] == 'open' or circuit[1] == 'half_open' then
  local reopen = tonumber(circuit[2] or '0')
  if now < reopen then
    if circuit[1] == 'open' then return deny(reopen - now, 'circuit_open') end
    -- A probe is out: its verdict may come any moment, so look again soon.
    return deny(math.min(reopen - now, poll), 'circuit_probing')
  end
  probe = true
end

local rank = redis.call('ZRANK', KEYS[6], job)
local wait, reason = 0, nil
if rpm > 0 then
  local used = redis.call('ZCARD', KEYS[1])
  if used + rank >= rpm then
    -- Admitted once (used + rank - rpm + 1) entries have left the window.
    local k = math.min(used + rank - rpm, used - 1)
    local entry = k >= 0 and redis.call('ZRANGE', KEYS[1], k, k, 'WITHSCORES') or {}
    wait, reason = entry[2] and (tonumber(entry[2]) + window - now) or poll, 'rpm'
  end
end
if conc > 0 then
  local busy = redis.call('ZCARD', KEYS[5])
  if busy + rank >= conc then
    -- A release wakes the first waiter, so polling only covers a lapsed lease or a missed
    -- wake-up. Waiters deep in the line poll less often: they cannot start before those
    -- ahead of them anyway, and a long backlog must not turn into a stream of re-checks.
    local w = poll
    if rank >= conc then w = math.min(poll * math.ceil((rank + 1) / conc), window) end
    local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    if first[2] then w = math.min(w, tonumber(first[2]) - now) end
    if w > wait then wait = w end
    reason = reason or 'concurrency'
  end
end
if tpm > 0 and not reason then
  if rank > 1000 then return deny(math.min(poll * math.ceil(rank / 1000), window), 'tpm') end
  local ahead = 0
  if rank > 0 then
    local ids = redis.call('ZRANGE', KEYS[6], 0, rank - 1)
    for _, n in ipairs(redis.call('HMGET', KEYS[8], unpack(ids))) do
      ahead = ahead + (tonumber(n) or 0)
    end
  end
  local excess = tonumber(redis.call('GET', KEYS[4]) or '0') + ahead + need - tpm
  if excess > 0 then
    -- Wait until enough of the oldest reservations have left the window.
    wait, reason = poll, 'tpm'
    local freed, start = 0, 0
    while freed < excess do
      local batch = redis.call('ZRANGE', KEYS[2], start, start + 99, 'WITHSCORES')
      if #batch == 0 then break end
      local ids = {}
      for i = 1, #batch, 2 do ids[#ids + 1] = batch[i] end
      local amounts = redis.call('HMGET', KEYS[3], unpack(ids))
      for i = 1, #ids do
        freed = freed + (tonumber(amounts[i]) or 0)
        if freed >= excess then
          wait = tonumber(batch[i * 2]) + window - now
          break
        end
      end
      start = start + 100
    end
  end
end
if reason then return deny(wait, reason) end

redis.call('ZREM', KEYS[6], job)
redis.call('ZREM', KEYS[7], job)
redis.call('HDEL', KEYS[8], job)
local token = ARGV[8]
if rpm > 0 then
  redis.call('ZADD', KEYS[1], now, token)
  redis.call('PEXPIRE', KEYS[1], window * 2)
end
if tpm > 0 then
  redis.call('ZADD', KEYS[2], now, token)
  redis.call('HSET', KEYS[3], token, need)
  redis.call('INCRBY', KEYS[4], need)
  for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], window * 2) end
end
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[7]), token)
redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[7]) * 4)
if probe then
  -- This call is the one probe of a circuit whose reset time has passed; others wait
  -- for its verdict (or for the probe to time out).
  redis.call('HSET', KEYS[10], 'state', 'half_open', 'until', now + tonumber(ARGV[12]))
  return {1, 0, 'probe'}
end
return {1, 0, 'ok'}
"""
)

# Same KEYS plus KEYS[11] the deferred-jobs set. ARGV: 1 admission token, 2 tokens used
# (-1 = keep the reservation), 3 outcome ("ok", "fail", "rate_limited", "neutral"),
# 4 cooldown ms (for "rate_limited"), 5 circuit failure threshold, 6 circuit reset ms,
# 7 job key prefix, 8 the instance's max concurrency (0 = none; with one, a release wakes
# the waiters the free slots can take). Returns the circuit state after the call.
RELEASE_LUA = (
    NOW_MS_LUA
    + """
local token, used, outcome = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if used >= 0 then
  local reserved = redis.call('HGET', KEYS[3], token)
  if reserved then
    redis.call('HSET', KEYS[3], token, used)
    redis.call('INCRBY', KEYS[4], used - tonumber(reserved))
  end
end
local conc = tonumber(ARGV[8])
local freed = redis.call('ZREM', KEYS[5], token) == 1
if outcome == 'rate_limited' then
  local ms = tonumber(ARGV[4])
  if ms > 0 and redis.call('PTTL', KEYS[9]) < ms then
    redis.call('SET', KEYS[9], '1', 'PX', ms)
  end
end
local state = redis.call('HGET', KEYS[10], 'state') or 'closed'
if outcome == 'fail' or (outcome == 'neutral' and state == 'half_open') then
  -- A failed call counts towards opening; a probe that ended without a verdict (our own
  -- error) reopens the circuit for a new probe after the reset time.
  local failures = redis.call('HINCRBY', KEYS[10], 'failures', outcome == 'fail' and 1 or 0)
  if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[5])) then
    state = 'open'
    redis.call('HSET', KEYS[10], 'state', 'open', 'until', now + tonumber(ARGV[6]),
      'opened_at', now)
  end
elseif outcome ~= 'neutral' then
  -- The provider answered: it is reachable, whatever it said.
  if state ~= 'closed' then
    state = 'closed'
    redis.call('HSET', KEYS[10], 'state', 'closed', 'failures', 0)
  elseif redis.call('HGET', KEYS[10], 'failures') ~= '0' then
    redis.call('HSET', KEYS[10], 'failures', 0)
  end
end
if freed and conc > 0 and state == 'closed' and redis.call('PTTL', KEYS[9]) <= 0 then
  -- Hand the free slots to the first waiters in line now rather than at their next poll.
  -- A waiter that is not in the deferred set is already on its way back (pushed, or being
  -- run): it counts as coming. One that has ended (cancelled while waiting) leaves the
  -- line, so it does not hold a slot it will never take.
  local free = conc - redis.call('ZCARD', KEYS[5])
  local coming, start = 0, 0
  while coming < free do
    local ids = redis.call('ZRANGE', KEYS[6], start, start + free - coming - 1)
    if #ids == 0 then break end
    start = start + #ids
    for _, id in ipairs(ids) do
      local m = redis.call('HMGET', ARGV[7] .. id, 'status', 'message', 'message_key')
      if m[1] ~= 'queued' and m[1] ~= 'running' then
        redis.call('ZREM', KEYS[6], id)
        redis.call('ZREM', KEYS[7], id)
        redis.call('HDEL', KEYS[8], id)
        redis.call('ZREM', KEYS[11], id)
        start = start - 1
      else
        if redis.call('ZREM', KEYS[11], id) == 1 and m[2] and m[3] then
          redis.call('RPUSH', m[3], m[2])
        end
        coming = coming + 1
      end
    end
  end
end
return state
"""
)

# Read-only snapshot, same KEYS. ARGV[1] window ms. Returns {requests in window, tokens
# in window, in flight, waiting, cooldown ms left, circuit state, failures, circuit ms
# until a probe}.
USAGE_LUA = (
    NOW_MS_LUA
    + """
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
"""
)

# KEYS[1] an instance's in-flight set. ARGV[1] lease ms, ARGV[2] admission token.
# Also extends the set's own TTL (set at admission), so a renewed call outliving it keeps
# its slot.
RENEW_LUA = (
    NOW_MS_LUA
    + """
local renewed = redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 4)
return renewed
"""
)
