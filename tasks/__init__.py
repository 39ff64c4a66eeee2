"""Job kinds, the job record and its store, and how jobs are put on queues.

- ``jobs/``: the job record and its stores (async for the API, blocking for workers),
  leases, terminal events, the Celery wire message, submission, execution, and the
  completion hub that wakes waiters.
- ``kinds/``: what each job kind does and writes back (completion, enhancement/).
- ``loops/``: model turns under capacity, fallbacks, and tool loops shared by the kinds.
- ``sessions/``, ``batches/``, ``webhooks/``: conversations, batches of enhancement jobs,
  and signed webhook deliveries.
- ``usage/``: tenant usage and cost aggregates, the usage report and counters, and the
  tenant rate limits and budgets checked at submission.
- ``prompts/``: versioned prompt templates (YAML) and their loader.
"""
