-- End a call: free its slot, settle its tokens, tell the circuit.
-- KEYS: the instance's limiter keys (limits.capacity_scripts), then KEYS[11] the
-- deferred-jobs set. ARGV: 1 admission token, 2 tokens used (-1 = keep the reservation),
-- 3 outcome ("ok", "fail", "rate_limited", "neutral"), 4 cooldown ms (for
-- "rate_limited"), 5 circuit failure threshold, 6 circuit reset ms, 7 the instance's max
-- concurrency (0 = none; with one, a release wakes the waiters the free slots can take).
-- Returns the circuit state after the call. The circuit's policy: any answer from the
-- provider (even a straggler's) closes it; a failure, or a probe's unanswered end, counts.
--!include limits/scripts/release_call.lua
return release_call(KEYS, ARGV)
