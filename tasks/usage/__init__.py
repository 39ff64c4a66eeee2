"""Tenant usage: what every paid provider reply used and cost, aggregated in Redis per UTC
day, month, model and provider instance (counted by ``tasks/jobs/scripts/paid_reply.lua``
through ``scripts/count_usage.lua``); the usage report (``report``), the all-time counters
``/metrics`` exports (``counters``), and the per-tenant rate limits and budgets enforced at
submission (``admission``)."""
