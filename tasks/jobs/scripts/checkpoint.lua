-- A tool loop's checkpoint, written only while the caller still holds the job.
-- KEYS[1] job hash. ARGV[1] lease token, ARGV[2..] field/value pairs ("" deletes).
-- Returns {1, "running"} or {0, current status}.
--!include tasks/jobs/scripts/set_fields.lua
--!include tasks/jobs/scripts/holder.lua
set_fields(2)
return {1, 'running'}
