-- ``admit(order, need)``: the body of acquire.lua, as a function so that acquire_attempt.lua
-- and tasks/jobs/scripts/claim_admit.lua can run it between their own steps. Returns
-- acquire.lua's reply. Needs ``now`` (clock.lua), the circuit helpers (circuit.lua), and
-- the instance's KEYS[1..10] and ARGV[1..12] in the order of acquire.lua, except ARGV[2]
-- (the job's place in line) and ARGV[3] (the tokens it needs): given here, since
-- claim_admit.lua reads them from the job's record.
local function admit(order, need)
  local job = ARGV[1]
  local rpm, tpm, conc = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
  local window, poll = tonumber(ARGV[10]), tonumber(ARGV[11])
--!include limits/scripts/prune.lua
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
  local circuit, circuit_wait = circuit_admit(KEYS[10], poll)
  if circuit == 'open' then return deny(circuit_wait, 'circuit_open') end
  if circuit == 'probing' then return deny(circuit_wait, 'circuit_probing') end
  local probe = circuit == 'probe'

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
    circuit_start_probe(KEYS[10], tonumber(ARGV[12]))
    return {1, 0, 'probe'}
  end
  return {1, 0, 'ok'}
end
