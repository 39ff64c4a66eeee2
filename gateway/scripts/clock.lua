-- Redis's clock: defines ``now``, milliseconds since the epoch. Every script that stamps
-- or compares times uses it, so leases, limiter windows and circuit timers never depend
-- on a worker's clock.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
