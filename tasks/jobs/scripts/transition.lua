-- Move a job between statuses, whatever its lease. KEYS[1] job hash, KEYS[2] webhook due
-- set. ARGV: 1 allowed from-statuses (comma-separated), 2 new status, 3 channel to
-- publish the id on when the new status is terminal ("" = none), 4 job id, 5 failures
-- increment, 6.. field/value pairs to set ("" deletes). Returns {1, new} on success,
-- {0, current} when the current status is not allowed, {-1, ""} when the job does not
-- exist (expired or never created).
--!include tasks/jobs/scripts/set_fields.lua
--!include gateway/scripts/clock.lua
--!include tasks/jobs/scripts/on_terminal.lua
local function is_terminal(s) return s == 'succeeded' or s == 'failed' or s == 'cancelled' end
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {-1, ''} end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
local inc = tonumber(ARGV[5])
if inc and inc ~= 0 then redis.call('HINCRBY', KEYS[1], 'failures', inc) end
set_fields(6)
if is_terminal(ARGV[2]) and not is_terminal(current) then
  on_terminal(KEYS[2], KEYS[1], ARGV[4], ARGV[2])
end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[2]) end
return {1, ARGV[2]}
