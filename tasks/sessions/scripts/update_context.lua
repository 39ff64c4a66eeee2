-- Merge into a session's context. KEYS: header, messages, context. ARGV[1] the tenant,
-- ARGV[2..] context key/value pairs ("" deletes the key). Returns 0 when the session is
-- missing or another tenant's; else merges, renews all three expiries to the session's
-- ttl_seconds, and returns 1.
local header = redis.call('HMGET', KEYS[1], 'tenant', 'ttl_seconds')
if header[1] ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[3], ARGV[i])
  else
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  end
end
local ttl_ms = tonumber(header[2]) * 1000
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl_ms) end
return 1
