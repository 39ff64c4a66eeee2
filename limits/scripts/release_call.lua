-- ``release_call(k, a)``: ending one provider call, shared by release.lua (alone) and
-- finish_paid_release.lua (with the job's finish, in one round trip). ``k`` and ``a`` are
-- release.lua's KEYS and ARGV as tables (see there). Returns the circuit state.
--!include gateway/scripts/clock.lua
--!include gateway/scripts/keys.lua
--!include gateway/scripts/circuit.lua
local function release_call(k, a)
  local token, used, outcome = a[1], tonumber(a[2]), a[3]
  if used >= 0 then
    local reserved = redis.call('HGET', k[3], token)
    if reserved then
      redis.call('HSET', k[3], token, used)
      redis.call('INCRBY', k[4], used - tonumber(reserved))
    end
  end
  local conc = tonumber(a[7])
  local freed = redis.call('ZREM', k[5], token) == 1
  if outcome == 'rate_limited' then
    local ms = tonumber(a[4])
    if ms > 0 and redis.call('PTTL', k[9]) < ms then
      redis.call('SET', k[9], '1', 'PX', ms)
    end
  end
  local state = redis.call('HGET', k[10], 'state') or 'closed'
  if outcome == 'fail' or (outcome == 'neutral' and state == 'half_open') then
    -- A failed call counts towards opening; a probe that ended without a verdict (our own
    -- error) reopens the circuit for a new probe after the reset time.
    local failures = redis.call('HINCRBY', k[10], 'failures', outcome == 'fail' and 1 or 0)
    if state == 'half_open' or (state == 'closed' and failures >= tonumber(a[5])) then
      state = 'open'
      circuit_trip(k[10], tonumber(a[6]))
    end
  elseif outcome ~= 'neutral' then
    -- The provider answered: it is reachable, whatever it said.
    if state ~= 'closed' then
      state = 'closed'
      redis.call('HSET', k[10], 'state', 'closed', 'failures', 0)
    elseif redis.call('HGET', k[10], 'failures') ~= '0' then
      redis.call('HSET', k[10], 'failures', 0)
    end
  end
  if freed and conc > 0 and state == 'closed' and redis.call('PTTL', k[9]) <= 0 then
    -- Hand the free slots to the first waiters in line now rather than at their next poll.
    -- A waiter that is not in the deferred set is already on its way back (pushed, or being
    -- run): it counts as coming. One that has ended (cancelled while waiting) leaves the
    -- line, so it does not hold a slot it will never take.
    local free = conc - redis.call('ZCARD', k[5])
    local coming, start = 0, 0
    while coming < free do
      local ids = redis.call('ZRANGE', k[6], start, start + free - coming - 1)
      if #ids == 0 then break end
      start = start + #ids
      for _, id in ipairs(ids) do
        local m = redis.call('HMGET', job_key(id), 'status', 'message', 'message_key', 'provider')
        -- Leaving the deferred set means leaving its instance's index of it (requeue.lua).
        if m[4] then redis.call('ZREM', limit_key(m[4], 'deferred'), id) end
        if m[1] ~= 'queued' and m[1] ~= 'running' then
          redis.call('ZREM', k[6], id)
          redis.call('ZREM', k[7], id)
          redis.call('HDEL', k[8], id)
          redis.call('ZREM', k[11], id)
          start = start - 1
        else
          if redis.call('ZREM', k[11], id) == 1 and m[2] and m[3] then
            redis.call('RPUSH', m[3], m[2])
          end
          coming = coming + 1
        end
      end
    end
  end
  return state
end
