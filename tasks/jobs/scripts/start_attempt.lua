-- An attempt is about to start (a tool job's tool run; a provider call counts its attempt
-- with its admission, limits/scripts/acquire_attempt.lua): count it, if the caller still
-- holds the job (gateway/scripts/job_attempt.lua). KEYS[1] job hash. ARGV[1] lease token,
-- ARGV[2] the attempt's id (a client re-sending the script after a lost reply counts it
-- once). Returns {1, attempts} or {0, current status}.
--!include gateway/scripts/job_attempt.lua
local held, status = attempt_holder(KEYS[1], ARGV[1])
if not held then return {0, status} end
return {1, count_attempt(KEYS[1], ARGV[2])}
