-- ``end_held(first)``: the end of a job whose caller still holds it (finish.lua,
-- finish_paid.lua, after holder.lua's check), with their KEYS and ARGV: KEYS[1] job hash,
-- KEYS[2] running set, KEYS[3] webhook due set; ARGV[1] lease token, ARGV[2] terminal
-- status, ARGV[3] channel, ARGV[4] job id, ARGV[5] failures increment, ARGV[first..]
-- field/value pairs ("" deletes). Returns the script's reply, {1, status}.
--
-- The completion notice is "<job id> <status>", followed by " " and the finished record
-- (its hash as a JSON array of field, value, ...) when that is small: an API waiting for
-- the job answers from it without reading the record back (``tasks.jobs.completion_hub``).
--!include tasks/jobs/scripts/set_fields.lua
--!include tasks/jobs/scripts/on_terminal.lua
-- A bigger record is left out of the notice: every API process receives every notice.
local NOTICE_RECORD_MAX_BYTES = 8192

local function completion_notice(record_key, job_id, status)
  local notice = job_id .. ' ' .. status
  local fields = redis.call('HGETALL', record_key)
  local size = 0
  for i = 1, #fields do size = size + #fields[i] end
  if size > NOTICE_RECORD_MAX_BYTES then return notice end
  return notice .. ' ' .. cjson.encode(fields)
end

local function end_held(first)
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  redis.call('HDEL', KEYS[1], 'lease')
  -- A zero increment would store a 'failures' field the record leaves out at 0.
  local failed = tonumber(ARGV[5])
  if failed ~= 0 then redis.call('HINCRBY', KEYS[1], 'failures', failed) end
  set_fields(first)
  on_terminal(KEYS[3], KEYS[1], ARGV[4], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('PUBLISH', ARGV[3], completion_notice(KEYS[1], ARGV[4], ARGV[2]))
  return {1, ARGV[2]}
end
