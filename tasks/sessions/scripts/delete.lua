-- Delete a session only if it is this tenant's. KEYS: header, messages, context.
-- ARGV[1] the tenant. Returns 1 when deleted, 0 when missing or another tenant's.
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
