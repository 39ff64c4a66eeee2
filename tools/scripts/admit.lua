-- A pass for one call to a tool service. KEYS[1] the service's circuit. ARGV: 1 probe
-- lease ms, 2 caller token, 3 longest retry hint while a probe is out (ms).
-- Returns {1, 0} go, {2, 0} go as the probe, {0, ms} refused: retry in ms.
--!include gateway/scripts/circuit.lua
local verdict, wait = circuit_admit(KEYS[1], tonumber(ARGV[3]))
if verdict == 'closed' then return {1, 0} end
if verdict ~= 'probe' then return {0, wait} end
circuit_start_probe(KEYS[1], tonumber(ARGV[1]), ARGV[2])
return {2, 0}
