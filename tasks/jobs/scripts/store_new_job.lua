-- Storing a new job's record (submit.lua, submit_finished.lua). KEYS[1] job hash, KEYS[2]
-- tenant index, KEYS[3] idempotency key ("" = none).
-- ``live_job_for_key()``: the id the idempotency key names, if that job still exists.
-- ``store_new_job(ttl, score, id, expired_below, first)``: the field/value pairs
-- ARGV[first..] as the record, its entry in the tenant index (entries below the lex bound
-- ``expired_below`` dropped) and the idempotency key, all living ``ttl`` seconds.
--!include gateway/scripts/keys.lua
local function live_job_for_key()
  if KEYS[3] == '' then return nil end
  local existing = redis.call('GET', KEYS[3])
  if existing and redis.call('EXISTS', job_key(existing)) == 1 then return existing end
  return nil
end

local function store_new_job(ttl, score, id, expired_below, first)
  local fields = {}
  for i = first, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], score, id)
  redis.call('ZREMRANGEBYLEX', KEYS[2], '-', expired_below)
  redis.call('EXPIRE', KEYS[2], ttl)
  if KEYS[3] ~= '' then redis.call('SET', KEYS[3], id, 'EX', ttl) end
end
