-- ``set_fields(first)`` writes the field/value pairs ARGV[first..] to the job hash
-- KEYS[1]; an empty value deletes the field.
local function set_fields(first)
  for i = first, #ARGV, 2 do
    if ARGV[i + 1] == '' then
      redis.call('HDEL', KEYS[1], ARGV[i])
    else
      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    end
  end
end
