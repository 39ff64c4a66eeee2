"""Redis's clock inside Lua scripts. Every script that stamps or compares times uses it,
so leases, limiter windows and circuit timers never depend on a worker's clock."""

from __future__ import annotations

# Lua: defines ``now``, milliseconds since the epoch by Redis's clock.
NOW_MS_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
