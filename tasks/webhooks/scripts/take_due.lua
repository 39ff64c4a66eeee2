-- Hand out due webhook deliveries. KEYS[1] due set. ARGV[1] how many, ARGV[2] lease ms.
-- Returns {the due members, each re-scored a lease ahead (handed out: not due again unless
-- its attempt is never recorded), ms until the next member is due (-1: none)}.
--!include gateway/scripts/due_set.lua
local due = due_members(KEYS[1], tonumber(ARGV[1]))
for _, member in ipairs(due) do
  schedule_at(KEYS[1], member, now + tonumber(ARGV[2]))
end
return {due, next_due_in(KEYS[1])}
