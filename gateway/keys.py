"""Every Redis key and channel name the gateway uses, in one place."""

from __future__ import annotations

from gateway.redis_replies import text

PREFIX = "llmgw"

# Pub/sub channel on which workers announce that a job reached a terminal state.
JOB_DONE_CHANNEL = f"{PREFIX}:events:job-done"
# Sorted set of live workers: member "<hostname>|<queue,queue>", score = last heartbeat.
WORKERS = f"{PREFIX}:workers"
# Hash: provider instance → why workers disabled it at start-up (no secret in it).
DISABLED_INSTANCES = f"{PREFIX}:instances:disabled"


def worker_member(hostname: str, queues: list[str]) -> str:
    """A worker's member of ``WORKERS``."""
    return f"{hostname}|{','.join(sorted(queues))}"


def worker_queues(member: object) -> list[str]:
    """The queues a ``WORKERS`` member (as redis-py returns it) consumes."""
    return [queue for queue in text(member).partition("|")[2].split(",") if queue]


def job(job_id: str) -> str:
    """Hash holding the job record."""
    return f"{PREFIX}:job:{job_id}"


def job_stream(job_id: str) -> str:
    """Stream of a streaming job's events (``tasks.jobs.stream``); expires with the record."""
    return f"{job(job_id)}:stream"


def stream_hub_wake(hub_id: str) -> str:
    """Stream an API process's stream hub reads beside the job streams it relays: a write
    to it wakes the hub's blocked read so it starts reading a newly followed job at once."""
    return f"{PREFIX}:stream-hub:{hub_id}"


def session(session_id: str) -> str:
    """Hash holding a conversation session's header (tenant, created_at, ttl_seconds,
    context_budget_tokens, system, metadata); the session is alive while it exists."""
    return f"{PREFIX}:session:{session_id}"


def session_messages(session_id: str) -> str:
    """List of the session's history, JSON-encoded OpenAI chat messages, oldest first."""
    return f"{PREFIX}:session:{session_id}:messages"


def session_context(session_id: str) -> str:
    """Hash of the session's context: key → JSON-encoded value."""
    return f"{PREFIX}:session:{session_id}:context"


def tenant_jobs(tenant: str) -> str:
    """Sorted set of a tenant's job ids, all scored 0: ordered by id, ids are time-ordered."""
    return f"{PREFIX}:tenant:{tenant}:jobs"


def document_cache(tenant: str, digest: str) -> str:
    """String: a document read for a model request (``tasks.documents.cache``)."""
    return f"{PREFIX}:doc:{tenant}:{digest}"


def idempotency(tenant: str, key: str) -> str:
    """String: the job id first submitted with this idempotency key."""
    return f"{PREFIX}:idem:{tenant}:{key}"


# Sorted set of running jobs: member job id, score = lease expiry (ms, Redis clock). A job
# whose lease lapses (its worker died) is re-queued by whichever worker reaps it first.
RUNNING = f"{PREFIX}:running"
# Sorted set of jobs waiting to go back onto their queue: member job id, score = when (ms,
# Redis clock). Retries, limiter waits and crash recovery all pass through it.
DEFERRED = f"{PREFIX}:deferred"


# Prefix of every provider instance's limiter structures: ``<prefix><instance>:<part>``.
LIMIT_PREFIX = f"{PREFIX}:limit:"


def limit(instance: str, part: str) -> str:
    """One of a provider instance's limiter structures (see ``limits.capacity``)."""
    return f"{LIMIT_PREFIX}{instance}:{part}"


def circuit(instance: str) -> str:
    """Hash holding a provider instance's circuit breaker state."""
    return f"{PREFIX}:circuit:{instance}"


def tool_circuit(service: str) -> str:
    """Hash holding the circuit breaker state of a tool's downstream service."""
    return f"{PREFIX}:tool-circuit:{service}"


def batch(batch_id: str) -> str:
    """Hash holding a batch record; its counters ``n_<status>`` are kept by the job scripts."""
    return f"{PREFIX}:batch:{batch_id}"


def batch_jobs(batch_id: str) -> str:
    """List of a batch's job ids, in document order."""
    return f"{PREFIX}:batch:{batch_id}:jobs"


def batch_idempotency(tenant: str, key: str) -> str:
    """String: the batch id first submitted with this idempotency key (its own namespace:
    a job's key never names a batch)."""
    return f"{PREFIX}:idem-batch:{tenant}:{key}"


def tenant_batches(tenant: str) -> str:
    """Sorted set of a tenant's batch ids, all scored 0 (ids are time-ordered)."""
    return f"{PREFIX}:tenant:{tenant}:batches"


# Sorted set of webhook deliveries to attempt: member "job:<id>" or "batch:<id>", score =
# when (ms, Redis clock). A delivery handed to a worker is re-scored a lease ahead.
WEBHOOKS_DUE = f"{PREFIX}:webhooks:due"
# Sorted set of dead-lettered deliveries (member as above, score = when, ms).
WEBHOOKS_DEAD = f"{PREFIX}:webhooks:dead"


# Hash of all-time usage counters, one field per label set (a JSON array: ``["tokens",
# tenant, instance, model, direction]``, ``["cost", tenant, instance, model]`` in nano-USD,
# ``["jobs", tenant, instance, model, kind, outcome]``): what ``/metrics`` exports, read in
# one HGETALL whatever the number of days kept (``tasks.usage``).
USAGE_COUNTERS = f"{PREFIX}:usage:counters"


def response_cache(tenant: str, digest: str) -> str:
    """String: a cached completion (``tasks.cache``), keyed by its normalized request."""
    return f"{PREFIX}:cache:{tenant}:{digest}"


# Hash: the response cache's lookups, field ``hit`` / ``miss`` → count (cluster-wide).
CACHE_COUNTERS = f"{PREFIX}:cache:counters"


def usage_day(tenant: str, day: str) -> str:
    """Hash of a tenant's usage on one UTC day (``YYYY-MM-DD``): totals and per model and
    per provider instance (``tasks/usage/scripts/count_usage.lua``); expires."""
    return f"{PREFIX}:usage:{tenant}:day:{day}"


def usage_month(tenant: str, month: str) -> str:
    """Hash of a tenant's usage totals in one UTC month (``YYYY-MM``): the monthly budget's."""
    return f"{PREFIX}:usage:{tenant}:month:{month}"


def tenant_rate(tenant: str) -> str:
    """Hash of a tenant's rpm and tpm token buckets (``tasks/usage/scripts/bucket.lua``)."""
    return f"{PREFIX}:tenant:{tenant}:rate"


# The prefixes of keys a Lua script can only name as it runs, from data it reads (see
# ``gateway/scripts/keys.lua``); ``gateway.lua`` fills them in as ``${NAME}``.
LUA_KEY_PREFIXES = {
    "JOB": job(""),
    "BATCH": batch(""),
    "LIMIT": LIMIT_PREFIX,
    "USAGE_COUNTERS": USAGE_COUNTERS,
}
