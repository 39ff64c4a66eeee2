"""The one settings class. Every knob is an ``LLM_GATEWAY_*`` environment variable.

Longer than a module should be, on purpose: one class is the contract (one prefix, one
place to look), and each field carries the description ``docs/configuration.md`` is
generated from (``python -m gateway.settings_doc --write``)."""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.tenant_limits import TenantLimits

DEFAULT_PROVIDERS_FILE = Path(__file__).resolve().parent.parent / "config" / "providers.yaml"
DEFAULT_TOOLS_FILE = Path(__file__).resolve().parent.parent / "config" / "tools.yaml"
DEFAULT_STORAGE_FILE = Path(__file__).resolve().parent.parent / "config" / "storage.yaml"


class Settings(BaseSettings):
    """Runtime configuration, read once per process and passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix="LLM_GATEWAY_", extra="ignore", frozen=True)

    # Every field has a description: docs/configuration.md is generated from them
    # (``python -m gateway.settings_doc``), and a test keeps the two in step.

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis: the Celery broker and the store of jobs, sessions, batches, limits.",
    )
    # High availability: with Sentinels set, every client (the API's, the workers', Celery's
    # broker) asks them for the current master; ``redis_url`` then supplies only the
    # database, username and password (docs/redis-failover.md).
    redis_sentinels: str = Field(
        default="",
        description="Redis Sentinels, comma-separated `host:port`; set, every client connects "
        "to the master they name (`REDIS_SENTINEL_MASTER`) and follows failovers, and only "
        "the database, username and password of `REDIS_URL` are used. Empty: `REDIS_URL`.",
    )
    redis_sentinel_master: str = Field(
        default="mymaster",
        min_length=1,
        description="The master's name the Sentinels monitor (`sentinel monitor <name> ...`).",
    )
    redis_sentinel_password: SecretStr | None = Field(
        default=None,
        description="Password of the Sentinels themselves (their `requirepass`); unset: none. "
        "The data nodes' password comes from `REDIS_URL`.",
    )
    redis_wait_replicas: int = Field(
        default=0,
        ge=0,
        description="A job submit waits (`WAIT`) until this many replicas have it before the "
        "202, so a failover cannot lose an accepted job; not acknowledged in "
        "`REDIS_WAIT_TIMEOUT_MS`, the submit answers 503 (retry with the same "
        "`Idempotency-Key`). 0: no wait.",
    )
    redis_wait_timeout_ms: int = Field(
        default=1000,
        ge=1,
        description="How long a submit waits for `REDIS_WAIT_REPLICAS` replicas.",
    )
    providers_file: Path = Field(
        default=DEFAULT_PROVIDERS_FILE,
        description="The provider instances file (see providers.md).",
    )

    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="API keys, comma-separated `tenant:key` or `tenant:sha256:<hex>` pairs "
        "(plaintext keys are hashed on load). Required unless `AUTH_DISABLED=true`.",
    )
    auth_disabled: bool = Field(
        default=False, description="Accept every request as `DEV_TENANT` (local development only)."
    )
    dev_tenant: str = Field(
        default="local", description="The tenant of every request while auth is disabled."
    )

    host: str = Field(
        default="127.0.0.1",
        description="The API's bind address, and that of a worker's metrics port.",
    )
    port: int = Field(default=8080, ge=1, le=65535, description="The API's port.")
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Larger request bodies get a 413, with or without Content-Length.",
    )
    # What one model request may ask of the API (and later of a worker and the provider):
    # each bound keeps the work a single request causes small (docs/api.md, "Limits").
    request_max_messages: int = Field(
        default=2048,
        ge=1,
        description="Messages per chat request (jobs, chat completions, a session's initial "
        "history); more is a 400.",
    )
    request_max_tools: int = Field(
        default=128, ge=0, description="Tools per chat request (OpenAI's limit); more is a 400."
    )
    request_max_schema_bytes: int = Field(
        default=65_536,
        ge=256,
        description="Size of one JSON Schema in a request (a tool's `parameters`, "
        "`response_format`'s schema), as compact JSON; larger is a 400.",
    )
    request_max_schema_depth: int = Field(
        default=32,
        ge=2,
        description="Nesting of one such JSON Schema, counted in JSON objects and arrays "
        "(a schema 10 object levels deep is about 21); deeper is a 400.",
    )
    request_max_content_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="All message content of one request together (text, image URLs, tool "
        "call arguments), in UTF-8 bytes; more is a 413.",
    )
    offload_body_bytes: int = Field(
        default=32_768,
        ge=0,
        description="Bodies from this size on are parsed, validated and prepared in a worker "
        "thread rather than on the API's event loop; 0: always.",
    )
    offload_threads: int = Field(
        default=1,
        ge=1,
        description="Worker threads of each API process for that work. They share the GIL "
        "with the event loop, and one C call (parsing a 1 MiB body) holds it throughout: "
        "each more thread is one more such call the loop can wait behind.",
    )
    heavy_lane_body_bytes: int = Field(
        default=262_144,
        ge=0,
        description="POST bodies from this size on (by Content-Length, up to the body limit) "
        "are handed to a sibling API process the API starts, so their parsing never holds "
        "this process's GIL; until it is up, or if it is down, they are handled here. "
        "0: no sibling.",
    )

    job_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="Job records and their indexes expire (7 days)."
    )
    wait_max_seconds: float = Field(
        default=300.0, gt=0, description="Upper bound of `GET /v1/jobs/{id}/wait?timeout=`."
    )
    sync_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long `POST /v1/chat/completions` waits for its job before a 504.",
    )
    stream_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=60,
        description="A stream that has nothing to send for this long sends a comment naming "
        "the job and where it is (queued, position N; waiting; running), so proxies with idle "
        "timeouts keep it open.",
    )
    stream_max_events: int = Field(
        default=10_000,
        ge=100,
        description="Events a job's stream keeps (the oldest are trimmed beyond it, roughly).",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Failed provider calls before a job fails (untried fallbacks are still "
        "used first); also how many worker losses a job may survive.",
    )
    retry_backoff_seconds: float = Field(
        default=1.0, ge=0, description="First retry backoff; doubles per attempt, with jitter."
    )
    retry_backoff_max_seconds: float = Field(
        default=60.0, ge=0, description="Cap of the retry backoff (a longer `retry-after` wins)."
    )
    rate_limit_cooldown_seconds: float = Field(
        default=1.0,
        ge=0,
        description="A 429 without `retry-after` cools the instance down for this long, "
        "for every worker.",
    )

    worker_concurrency: int = Field(
        default=64,
        ge=1,
        description="Threads per worker process (calls in flight), unless the worker is "
        "started with `--concurrency`; the worker's Redis connections are sized for the "
        "threads it runs.",
    )
    # Crash recovery does not wait for this (job leases do); it only bounds how long a lost
    # message can stay invisible.
    visibility_timeout_seconds: int = Field(
        default=3600, ge=60, description="Celery re-delivers an unacked message after this."
    )
    worker_heartbeat_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Worker presence heartbeat; `/health/ready` counts workers seen in the "
        "last three periods.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, the API's `/metrics` answers only requests bearing "
        "`Authorization: Bearer <token>` (401 otherwise); unset, it is open "
        "(docs/observability.md).",
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Each worker process serves its own Prometheus metrics (provider call "
        "latency, retries, limiter waits) on this port; 0 = off. Several workers on one host "
        "need a port each (`llm-gateway up` gives its workers this port, +1, +2, ...).",
    )
    worker_heartbeat_file: Path | None = Field(
        default=None,
        description="A file each worker touches every heartbeat period (unset: none). Its "
        "age is the Kubernetes liveness and readiness probe of a worker, so the probe need "
        "not start `celery inspect ping` (a whole Celery client and a broker round trip).",
    )
    instance_state_refresh_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often each API process re-reads every provider instance's live state "
        "(headroom, disabled) for routing; Ollama model discovery runs on the instance's own "
        "interval.",
    )
    job_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        description="A running job's lease, renewed every third of it; a killed worker's "
        "jobs re-run within about 1.5 times this.",
    )
    deferred_poll_seconds: float = Field(
        default=0.05,
        gt=0,
        description="The shortest time between two passes of a worker's pump, which moves "
        "due deferred jobs (retries, capacity waits) back onto their queues and hands out due "
        "webhook deliveries. Between passes it sleeps until the next item is due.",
    )
    deferred_idle_poll_seconds: float = Field(
        default=0.25,
        gt=0,
        description="The longest a worker's pump sleeps: an item another process schedules "
        "sooner than what the pump last saw (a webhook of a job the API cancelled, a retry "
        "another worker deferred) waits at most this long, less with more workers.",
    )
    capacity_wait_in_slot_seconds: float = Field(
        default=0.5,
        ge=0,
        description="The longest a job sleeps in its worker slot for capacity; a longer wait "
        "hands the slot back (the job is deferred).",
    )
    capacity_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Re-check interval of a capacity wait with no better estimate.",
    )

    session_ttl_seconds: int = Field(
        default=3600,
        ge=1,
        description="Default idle expiry of a session: every write (create, append, context "
        "update) renews it.",
    )
    session_max_ttl_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=1,
        description="The highest `ttl_seconds` a client may ask for (30 days).",
    )
    session_context_budget_tokens: int = Field(
        default=16_000,
        ge=1,
        description="Default token budget of the prompt a session's job sends; the oldest "
        "whole turns are left out to fit.",
    )
    session_max_messages: int = Field(
        default=1000, ge=1, description="Stored history per session: appends keep the newest."
    )

    tools_file: Path | None = Field(
        default=DEFAULT_TOOLS_FILE,
        description="The tool definitions file; empty: no tools.",
    )
    semantic_search_url: str = Field(
        default="http://127.0.0.1:8081",
        description="The semantic-search service (`search_corpus`, `get_chunk`).",
    )
    ai_agents_url: str = Field(
        default="http://127.0.0.1:8082",
        description="The ai-agents service (`review_code`, `analyze_architecture`, "
        "`generate_documentation`).",
    )
    tool_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Whole budget of one tool call, retries included (a tool may set its own).",
    )
    tool_max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="HTTP attempts per tool call on connection errors, timeouts, 429 and 5xx.",
    )
    tool_retry_backoff_seconds: float = Field(
        default=0.2, ge=0, description="First backoff between tool call attempts (exponential)."
    )
    tool_circuit_failure_threshold: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed tool calls, across all processes, that open a "
        "service's circuit.",
    )
    tool_circuit_reset_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a service's circuit stays open before one probe call is let through.",
    )
    tool_max_parallel: int = Field(
        default=32, ge=1, description="Tool calls one worker process runs at once."
    )

    tool_loop_max_iterations: int = Field(
        default=8,
        ge=1,
        description="Tool rounds per job unless the request sets `tool_loop.max_iterations`.",
    )
    tool_loop_max_iterations_limit: int = Field(
        default=50, ge=1, description="The highest `tool_loop.max_iterations` a request may set."
    )
    tool_loop_max_total_tokens: int | None = Field(
        default=None, ge=1, description="Default token budget of a tool loop; unset: none."
    )
    tool_loop_max_cost_usd: float | None = Field(
        default=None,
        ge=0,
        description="Default cost budget of a tool loop, applied only where the model has a "
        "price; unset: none.",
    )
    tenant_limits: dict[str, TenantLimits] = Field(
        default_factory=dict,
        description="Per-tenant `rpm`, `tpm`, `daily_budget_usd`, `monthly_budget_usd` (each "
        'optional), as JSON: `{"acme": {"rpm": 60, "daily_budget_usd": 5}}`; enforced across '
        "every API process at submission (usage-and-budgets.md). `cache_ttl_seconds` turns "
        "the response cache on for the tenant's requests by default (response-cache.md).",
    )
    cache_default_ttl_seconds: int = Field(
        default=3600,
        ge=1,
        description="How long a cached response lives unless the request's "
        "`x-llm-gateway-cache-ttl` or the tenant's `cache_ttl_seconds` says otherwise "
        "(response-cache.md).",
    )
    cache_max_ttl_seconds: int = Field(
        default=86_400,
        ge=1,
        description="The longest TTL a request's `x-llm-gateway-cache-ttl` may ask for.",
    )
    cache_max_entry_bytes: int = Field(
        default=262_144,
        ge=1024,
        description="A response larger than this (its stored JSON) is not cached.",
    )
    usage_retention_days: int = Field(
        default=400,
        ge=1,
        description="How long a tenant's daily and monthly usage is kept in Redis.",
    )
    usage_max_range_days: int = Field(
        default=366, ge=1, description="The longest `start`..`end` range `GET /v1/usage` answers."
    )
    tool_result_max_chars: int = Field(
        default=32_000,
        ge=256,
        description="A longer tool result is cut, with a note, before the model sees it.",
    )

    outbound_allowlist: str = Field(
        default="",
        description="Hosts, `*.suffixes`, IPs and CIDRs that webhook and document URLs may "
        "reach although they are not public, e.g. `hooks.internal,10.20.0.0/16`.",
    )
    api_switch_interval_ms: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="The API process's GIL switch interval (Python's default is 5 ms): how "
        "long the event loop may wait for a thread parsing a large body to let it run.",
    )
    worker_switch_interval_ms: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="A worker process's GIL switch interval (Python's default is 5 ms): how "
        "long a job handed from the consumer thread to a pool thread may wait for the GIL.",
    )
    pass_unknown_parameters: bool = Field(
        default=False,
        description="Pass chat-request fields the gateway does not know through to "
        "OpenAI-type providers (`openai`, `azure_openai`) instead of refusing them with a "
        "400; other provider types still refuse them.",
    )
    embedding_max_inputs: int = Field(
        default=2048,
        ge=1,
        description="Texts one `/v1/embeddings` request (or `embedding` job) may hold; "
        "OpenAI's own limit is 2048.",
    )
    batch_max_documents: int = Field(default=10_000, ge=1, description="Documents per batch.")
    batch_max_body_bytes: int = Field(
        default=64 * 1_048_576,
        ge=1024,
        description="Body limit of `POST /v1/batches`, which carries whole documents (64 MiB).",
    )
    document_max_bytes: int = Field(
        default=1_048_576, ge=1, description="Per document, inline or fetched (1 MiB)."
    )
    storage_file: Path | None = Field(
        default=DEFAULT_STORAGE_FILE,
        description="The storage instances file (see storage.md); empty: no storage routes.",
    )
    storage_max_object_bytes: int = Field(
        default=5 * 1024**3,
        ge=1024,
        description="Body limit of a storage upload (`PUT /-s3/...`), which is streamed to "
        "the store, never held whole (5 GiB).",
    )
    storage_threads: int = Field(
        default=32,
        ge=1,
        description="Threads for the object stores' blocking SDK calls: how many uploads, "
        "downloads and other storage calls run at once per API process.",
    )
    storage_upload_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="An upload whose client sends no bytes for this long is abandoned "
        "(400, nothing stored), so idle clients cannot hold the storage threads.",
    )
    document_fetch_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Fetching a document given by URL (by the worker)."
    )
    document_types: str = Field(
        default="application/pdf,text/plain,text/markdown,text/html",
        description="Media types a `document` part of a model request may have (comma "
        "separated); the worker extracts text from each (docs/storage.md).",
    )
    document_cache_ttl_seconds: int = Field(
        default=3600,
        ge=0,
        description="How long a document read for a model request stays in the tenant's "
        "Redis cache (0: no cache).",
    )
    document_cache_max_entry_bytes: int = Field(
        default=4 * 1_048_576,
        ge=1024,
        description="Largest cache entry (a document's bytes and text); larger documents "
        "are read again each time (4 MiB).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The gateway's address as clients reach it: absolute results links in "
        "webhook events.",
    )

    webhook_secrets: SecretStr = Field(
        default=SecretStr(""),
        description="Per-tenant webhook secrets, `tenant:whsec_<base64>` pairs; a tenant listed "
        "twice is signed with both (rotation).",
    )
    webhook_signing_key: SecretStr | None = Field(
        default=None,
        description="Derives a webhook secret for every tenant not in `WEBHOOK_SECRETS`; "
        "unset, such tenants cannot ask for webhooks.",
    )
    # Dense early: a receiver back after a blip (a deploy, a restart) gets the event within
    # seconds, not after Svix's 5s-then-5m gap; then sparser, spanning about a day, like
    # Svix's, before the delivery is dead-lettered.
    webhook_retry_schedule: str = Field(
        default="1s,5s,15s,30s,1m,2m,5m,10m,30m,1h,2h,4h,8h,10h",
        description="Waits before each webhook retry (`ms`, `s`, `m`, `h`, `d` suffixes); "
        "attempts = 1 + their number.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="One webhook delivery attempt."
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A delivery handed to a worker is not handed out again for this long "
        "(a worker that dies mid-attempt delays it by at most this).",
    )

    log_level: str = Field(default="INFO", description="Log level of the API and workers.")
    log_json: bool = Field(
        default=True, description="structlog JSON lines on stderr; false: console output."
    )

    # Nothing reads these two yet: ``llm-gateway up`` takes its ports as options.
    flower_port: int = Field(
        default=5555, description="Not read yet: `llm-gateway up --flower-port` sets it."
    )
    # No default password that works everywhere.
    flower_basic_auth: SecretStr | None = Field(
        default=None,
        description="`user:password` for the Flower that `llm-gateway up` starts; unset, "
        "`up` makes a random password, keeps it in `<state dir>/flower-login` (mode 0600) "
        "and prints that path (the password itself only to a terminal, never into a log).",
    )
    emulator_port: int = Field(
        default=8090, description="Not read yet: `llm-gateway up --emulator-port` sets it."
    )

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_parse(cls, value: str) -> str:
        parse_sentinels(value)
        return value

    @cached_property
    def sentinels(self) -> tuple[tuple[str, int], ...]:
        """``REDIS_SENTINELS`` as (host, port) pairs; empty: no Sentinel."""
        return parse_sentinels(self.redis_sentinels)

    @field_validator("tools_file", "storage_file", mode="before")
    @classmethod
    def _no_tools_file(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_durations(value)
        return value

    @cached_property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        """Seconds to wait before each webhook retry."""
        return parse_durations(self.webhook_retry_schedule)

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    def check_auth_configured(self) -> None:
        """The API refuses to start with no keys unless auth is explicitly off."""
        if not self.auth_disabled and not self.key_hashes:
            raise ValueError(
                "LLM_GATEWAY_API_KEYS is empty; set tenant:key pairs "
                "or LLM_GATEWAY_AUTH_DISABLED=true for local development"
            )

    @cached_property
    def key_hashes(self) -> dict[str, str]:
        """Map of sha256 hex digest of an API key → tenant."""
        hashes: dict[str, str] = {}
        for raw in self.api_keys.get_secret_value().split(","):
            entry = raw.strip()
            if not entry:
                continue
            tenant, sep, key = entry.partition(":")
            if not sep or not tenant or not key:
                raise ValueError("LLM_GATEWAY_API_KEYS entries must look like tenant:key")
            if key.startswith("sha256:"):
                digest = key.removeprefix("sha256:").lower()
                if len(digest) != 64:
                    raise ValueError(f"API key for tenant {tenant!r}: sha256 digest must be 64 hex")
            else:
                digest = hash_api_key(key)
            hashes[digest] = tenant
        return hashes


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_durations(text: str) -> tuple[float, ...]:
    """ "5s,5m,2h" → (5.0, 300.0, 7200.0); a bare number is seconds. Empty = no retries."""
    out: list[float] = []
    for raw in text.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        unit = next((u for u in ("ms", "s", "m", "h", "d") if item.endswith(u)), "")
        number = item.removesuffix(unit) if unit else item
        try:
            seconds = float(number) * _UNITS.get(unit, 1.0)
        except ValueError:
            raise ValueError(f"not a duration: {raw.strip()!r} (use e.g. 30s, 5m, 2h)") from None
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"not a duration: {raw.strip()!r}")
        out.append(seconds)
    return tuple(out)


def parse_sentinels(text: str) -> tuple[tuple[str, int], ...]:
    """ "a:26379,b:26379" → (("a", 26379), ("b", 26379)); a missing port is 26379."""
    out: list[tuple[str, int]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, "26379"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"not a Sentinel address: {item!r} (use host:port)")
        out.append((host.strip("[]"), int(port)))
    return tuple(out)


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()
