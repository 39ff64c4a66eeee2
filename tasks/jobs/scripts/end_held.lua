-- ``end_held(first)``: the end of a job whose caller still holds it (finish.lua,
-- finish_paid.lua, after holder.lua's check), with their KEYS and ARGV: KEYS[1] job hash,
-- KEYS[2] running set, KEYS[3] webhook due set; ARGV[1] lease token, ARGV[2] terminal
-- status, ARGV[3] channel, ARGV[4] job id, ARGV[5] failures increment, ARGV[first..]
-- field/value pairs ("" deletes). Returns the script's reply, {1, status}.
--!include tasks/jobs/scripts/set_fields.lua
--!include tasks/jobs/scripts/on_terminal.lua
local function end_held(first)
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  redis.call('HDEL', KEYS[1], 'lease')
  -- A zero increment would store a 'failures' field the record leaves out at 0.
  local failed = tonumber(ARGV[5])
  if failed ~= 0 then redis.call('HINCRBY', KEYS[1], 'failures', failed) end
  set_fields(first)
  on_terminal(KEYS[3], KEYS[1], ARGV[4], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[2])
  return {1, ARGV[2]}
end
