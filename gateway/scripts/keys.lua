-- Keys named by data a script reads as it runs (a member of a set, a field of a record):
-- no caller can list them in KEYS beforehand without giving up the script's atomicity.
-- Their names come from gateway.keys (the loader fills in each prefix placeholder), and this
-- file is the one place a Lua script joins a key name; every other key comes in KEYS.
local function job_key(id) return '${JOB}' .. id end
local function job_stream_key(id) return '${JOB}' .. id .. ':stream' end
local function batch_key(id) return '${BATCH}' .. id end
local function limit_key(instance, part) return '${LIMIT}' .. instance .. ':' .. part end
-- One fixed key, named here because every script that ends a job counts it (on_terminal).
local function usage_counters_key() return '${USAGE_COUNTERS}' end
