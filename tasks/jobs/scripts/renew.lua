-- Extend the leases a worker still holds. KEYS[1] running set, KEYS[1 + i] the job hash
-- of the i-th lease. ARGV[1] lease ms, ARGV[2..] job id / lease token pairs, in the order
-- of their KEYS. Extends only leases that exist and that the caller still holds (a worker
-- that stalled and lost a job must not keep the new holder's lease alive).
--!include gateway/scripts/clock.lua
local expiry, renewed = now + tonumber(ARGV[1]), 0
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1 + i / 2], 'lease') == ARGV[i + 1] then
    renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i])
  end
end
return renewed
