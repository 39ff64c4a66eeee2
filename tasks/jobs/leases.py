"""Running jobs hold leases; jobs that must wait sit in a deferred set. Both live in Redis
and every step is one Lua script on Redis's own clock, so no worker's clock matters.

- **Claim** moves ``queued`` → ``running`` and writes a lease: a random token in the record
  and an expiry in ``llmgw:running``. A running job whose lease is still live is not
  claimed again, so a duplicate delivery never runs a job twice at the same time.
- **Renew**: each worker extends the leases of the jobs it is running, every third of the
  lease. A worker killed with SIGKILL stops renewing.
- **Reap**: any worker moves a job whose lease lapsed (half a lease ago, a grace for a
  worker that was only cut off from Redis) back to ``queued`` and pushes its Celery
  message to the front of its queue, so another worker re-runs it within about 1.5 lease
  periods (not the broker's one-hour visibility timeout). A job that keeps losing its
  worker is failed after ``max_attempts`` recoveries instead of crashing workers forever.
- **Finish / requeue** succeed only for the lease holder: a worker that lost its lease
  (reaped while stalled) cannot overwrite what the new holder does.
- **Defer**: a job that must wait (provider limits, backoff after an error) is put in
  ``llmgw:deferred`` with the time it may run, and its message is acknowledged; the
  worker slot is free at once. **Pump**: workers push due jobs' messages back onto the
  front of their queues. The message to push is kept in the record (``message``,
  ``message_key``), so nothing has to be rebuilt outside the script, and nothing is lost
  if a worker dies between steps.
"""

from __future__ import annotations

from gateway.redis_clock import NOW_MS_LUA
from tasks.jobs.events import ON_TERMINAL_LUA
from tasks.jobs.record import SET_FIELDS_LUA

# KEYS[1] job hash, KEYS[2] running set, KEYS[3] deferred set. ARGV[1] lease token,
# ARGV[2] lease ms, ARGV[3] started_at (wall clock, for the record), ARGV[4] job id.
# Returns {1, fields} when claimed, {0, status} when not ("running" = held by a live
# lease, "deferred" = waiting in the deferred set), {-1} when the job does not exist.
CLAIM_LUA = (
    NOW_MS_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {-1}
end
if status == 'running' then
  local expiry = redis.call('ZSCORE', KEYS[2], ARGV[4])
  local mine = redis.call('HGET', KEYS[1], 'lease') == ARGV[1]
  -- "mine": the client re-sent this script after a lost reply; the claim stands.
  if expiry and tonumber(expiry) > now and not mine then return {0, 'running'} end
elseif status == 'queued' then
  -- A stale duplicate of the message must not cut a backoff or capacity wait short.
  local due = redis.call('ZSCORE', KEYS[3], ARGV[4])
  if due and tonumber(due) > now then return {0, 'deferred'} end
else
  return {0, status}
end
redis.call('HSET', KEYS[1], 'status', 'running', 'lease', ARGV[1], 'started_at', ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[4])
return {1, redis.call('HGETALL', KEYS[1])}
"""
)

# The lease holder's check, shared by finish and requeue: {0, status} if the caller no
# longer holds the job (cancelled, finished by another copy, or reaped).
_HOLDER = (
    SET_FIELDS_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' or redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] then
  return {0, status or ''}
end
"""
)

# KEYS[1] job hash, KEYS[2] running set. ARGV[1] lease token, ARGV[2] terminal status,
# ARGV[3] channel, ARGV[4] job id, ARGV[5] attempts increment, ARGV[6..] field/value pairs
# ("" deletes). Returns {1, status} or {0, current status}.
FINISH_LUA = (
    _HOLDER
    + NOW_MS_LUA
    + ON_TERMINAL_LUA
    + """
redis.call('HSET', KEYS[1], 'status', ARGV[2])
redis.call('HDEL', KEYS[1], 'lease')
redis.call('HINCRBY', KEYS[1], 'attempts', tonumber(ARGV[5]))
set_fields(6)
on_terminal(KEYS[1], ARGV[4], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[2])
return {1, ARGV[2]}
"""
)

# KEYS[1] job hash, KEYS[2] running set, KEYS[3] session hash, KEYS[4] session messages
# list, KEYS[5] session context hash. ARGV[1..5] as for FINISH_LUA, ARGV[6] the session's
# tenant, ARGV[7] how many messages a session keeps, ARGV[8] n, ARGV[9..8+n] the messages
# (JSON) to append, then field/value pairs. The job's terminal state and its messages in
# its session are one step: neither a crash nor a duplicate delivery can record one
# without the other, and concurrent jobs on one session each append all of theirs.
# Returns {1, status, appended (1, or 0 when the session has expired)} or {0, status}.
FINISH_IN_SESSION_LUA = (
    _HOLDER
    + NOW_MS_LUA
    + ON_TERMINAL_LUA
    + """
local n = tonumber(ARGV[8])
local appended = 0
if redis.call('HGET', KEYS[3], 'tenant') == ARGV[6] then
  -- In slices: Lua's unpack has a limit of a few thousand values.
  for first = 9, 8 + n, 1000 do
    redis.call('RPUSH', KEYS[4], unpack(ARGV, first, math.min(first + 999, 8 + n)))
  end
  if n > 0 then redis.call('LTRIM', KEYS[4], -tonumber(ARGV[7]), -1) end
  local ttl = tonumber(redis.call('HGET', KEYS[3], 'ttl_seconds') or '0') * 1000
  if ttl > 0 then
    for i = 3, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
  appended = 1
end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
redis.call('HDEL', KEYS[1], 'lease')
redis.call('HINCRBY', KEYS[1], 'attempts', tonumber(ARGV[5]))
set_fields(9 + n)
on_terminal(KEYS[1], ARGV[4], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[2])
return {1, ARGV[2], appended}
"""
)

# KEYS[1] job hash. ARGV[1] lease token, ARGV[2..] field/value pairs. A tool loop's
# checkpoint: written only while the caller still holds the job. Returns {1, "running"}
# or {0, current status}.
CHECKPOINT_LUA = (
    _HOLDER
    + """
set_fields(2)
return {1, 'running'}
"""
)

# KEYS[1] job hash, KEYS[2] running set, KEYS[3] deferred set. ARGV[1] lease token,
# ARGV[2] job id, ARGV[3] delay ms (0 = push the message now), ARGV[4] attempts increment,
# ARGV[5..] field/value pairs (e.g. a new route and message). Returns {1, "queued"} or
# {0, current status}.
REQUEUE_LUA = (
    _HOLDER
    + NOW_MS_LUA
    + """
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('HDEL', KEYS[1], 'lease')
redis.call('HINCRBY', KEYS[1], 'attempts', tonumber(ARGV[4]))
set_fields(5)
redis.call('ZREM', KEYS[2], ARGV[2])
local delay = tonumber(ARGV[3])
if delay > 0 then
  redis.call('ZADD', KEYS[3], now + delay, ARGV[2])
else
  local m = redis.call('HMGET', KEYS[1], 'message', 'message_key')
  if m[1] and m[2] then redis.call('RPUSH', m[2], m[1]) end
end
return {1, 'queued'}
"""
)

# KEYS[1] running set. ARGV[1] lease ms, ARGV[2] job key prefix, ARGV[3..] job id / lease
# token pairs. Extends only leases that exist and that the caller still holds (a worker
# that stalled and lost a job must not keep the new holder's lease alive).
RENEW_LUA = (
    NOW_MS_LUA
    + """
local expiry, renewed = now + tonumber(ARGV[1]), 0
for i = 3, #ARGV, 2 do
  if redis.call('HGET', ARGV[2] .. ARGV[i], 'lease') == ARGV[i + 1] then
    renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i])
  end
end
return renewed
"""
)

# KEYS[1] running set. ARGV[1] job key prefix, ARGV[2] recoveries allowed, ARGV[3] batch
# size, ARGV[4] channel, ARGV[5] finished_at (wall clock), ARGV[6] grace ms: a lease must
# have lapsed this long before, so a worker that was merely cut off from Redis for a
# while gets to renew before its jobs are taken away. Returns {requeued, failed}.
REAP_LUA = (
    NOW_MS_LUA
    + ON_TERMINAL_LUA
    + """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[6]),
  'LIMIT', 0, tonumber(ARGV[3]))
local requeued, failed = 0, 0
for _, id in ipairs(lapsed) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[1] .. id
  if redis.call('HGET', key, 'status') == 'running' then
    redis.call('HDEL', key, 'lease')
    local lost = redis.call('HINCRBY', key, 'recoveries', 1)
    if lost > tonumber(ARGV[2]) then
      local error = cjson.encode({type = 'worker_lost', message =
        'the job lost its worker ' .. lost .. ' times; giving up'})
      redis.call('HSET', key, 'status', 'failed', 'error', error, 'finished_at', ARGV[5])
      on_terminal(key, id, 'failed')
      redis.call('PUBLISH', ARGV[4], id .. ' failed')
      failed = failed + 1
    else
      redis.call('HSET', key, 'status', 'queued')
      local m = redis.call('HMGET', key, 'message', 'message_key')
      if m[1] and m[2] then redis.call('RPUSH', m[2], m[1]) end
      requeued = requeued + 1
    end
  end
end
return {requeued, failed}
"""
)

# KEYS[1] deferred set. ARGV[1] job key prefix, ARGV[2] batch size, ARGV[3] limiter key
# prefix. Pushes due jobs that are still queued to the front of their queues, earliest-due
# first. A job that is no longer queued (cancelled while it waited) also leaves its
# instance's waiting line, so it holds no place there. Returns the count.
PUMP_LUA = (
    NOW_MS_LUA
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for i = #due, 1, -1 do
  local id = due[i]
  redis.call('ZREM', KEYS[1], id)
  local m = redis.call('HMGET', ARGV[1] .. id, 'status', 'message', 'message_key', 'provider')
  if m[1] == 'queued' and m[2] and m[3] then
    redis.call('RPUSH', m[3], m[2])
  elseif m[4] then
    local line = ARGV[3] .. m[4] .. ':waiting'
    redis.call('ZREM', line, id)
    redis.call('ZREM', line .. ':until', id)
    redis.call('HDEL', line .. ':n', id)
  end
end
return #due
"""
)
