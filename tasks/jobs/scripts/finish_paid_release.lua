-- finish_paid.lua and the call's release (limits/scripts/release.lua) in one step: a
-- plain completion's answer is paid for, its provider slot freed and its tokens settled,
-- and the job finished (if the caller still holds it), in one round trip instead of two.
-- The release runs whoever holds the job, as it would on its own: the call has ended.
-- KEYS: 1..7 as finish_paid.lua, 8..18 release.lua's KEYS. ARGV: 1..14 as finish_paid.lua,
-- 15..21 release.lua's ARGV, 22.. field/value pairs ("" deletes).
-- Returns {1, status} or {0, current status}, as finish_paid.lua.
--!include tasks/jobs/scripts/record_paid.lua
--!include tasks/jobs/scripts/end_held.lua
--!include limits/scripts/release_call.lua
record_paid(KEYS[1], KEYS[4], KEYS[5], KEYS[6], KEYS[7], 6)
release_call(
  {KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16],
   KEYS[17], KEYS[18]},
  {ARGV[15], ARGV[16], ARGV[17], ARGV[18], ARGV[19], ARGV[20], ARGV[21]})
--!include tasks/jobs/scripts/holder.lua
return end_held(22)
