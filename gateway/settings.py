"""The one settings class. Every knob is an ``LLM_GATEWAY_*`` environment variable."""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PROVIDERS_FILE = Path(__file__).resolve().parent.parent / "config" / "providers.yaml"
DEFAULT_TOOLS_FILE = Path(__file__).resolve().parent.parent / "config" / "tools.yaml"


class Settings(BaseSettings):
    """Runtime configuration, read once per process and passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix="LLM_GATEWAY_", extra="ignore", frozen=True)

    redis_url: str = "redis://127.0.0.1:6379/0"
    providers_file: Path = DEFAULT_PROVIDERS_FILE

    # "tenant_a:key1,tenant_b:sha256:<hex>"; plaintext keys are hashed on load.
    api_keys: SecretStr = SecretStr("")
    auth_disabled: bool = False
    # Tenant used for every request when auth is disabled (local development only).
    dev_tenant: str = "local"

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    job_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    wait_max_seconds: float = Field(default=300.0, gt=0)
    sync_timeout_seconds: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_backoff_seconds: float = Field(default=1.0, ge=0)
    retry_backoff_max_seconds: float = Field(default=60.0, ge=0)

    # A 429 without retry-after cools the instance down for this long.
    rate_limit_cooldown_seconds: float = Field(default=1.0, ge=0)

    worker_concurrency: int = Field(default=64, ge=1)
    # Celery re-delivers an unacked message after this. Crash recovery does not wait for
    # it (leases below); it only bounds how long a lost message can stay invisible.
    visibility_timeout_seconds: int = Field(default=3600, ge=60)
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    # How often the API re-reads each provider instance's live state (headroom, disabled)
    # for routing; model discovery (Ollama) runs on each instance's own interval.
    instance_state_refresh_seconds: float = Field(default=1.0, gt=0)
    # A running job's lease: renewed every third of it; a lapsed lease re-queues the job.
    job_lease_seconds: float = Field(default=30.0, ge=1)
    # How often workers move due deferred jobs (retries, capacity waits) onto queues.
    deferred_poll_seconds: float = Field(default=0.05, gt=0)
    # The longest a job sleeps in its worker slot for capacity; longer waits hand it back.
    capacity_wait_in_slot_seconds: float = Field(default=0.5, ge=0)
    # Re-check interval for a job waiting on capacity with no better estimate.
    capacity_poll_seconds: float = Field(default=5.0, gt=0)

    # Conversation sessions. The TTL is an idle expiry: every write (create, append, context
    # update) renews it; clients may ask for their own, up to the maximum.
    session_ttl_seconds: int = Field(default=3600, ge=1)
    session_max_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=1)
    # Default token budget of the prompt a session's job sends (history trimmed to fit).
    session_context_budget_tokens: int = Field(default=16_000, ge=1)
    # Stored history cap: appends keep only the newest messages.
    session_max_messages: int = Field(default=1000, ge=1)

    # Tools: the definitions file (empty = no tools) and their downstream services.
    tools_file: Path | None = DEFAULT_TOOLS_FILE
    semantic_search_url: str = "http://127.0.0.1:8081"
    ai_agents_url: str = "http://127.0.0.1:8082"
    # Whole budget of one tool call, retries included (a tool may set its own).
    tool_timeout_seconds: float = Field(default=30.0, gt=0)
    # HTTP attempts per tool call on connection errors, timeouts, 429 and 5xx.
    tool_max_attempts: int = Field(default=3, ge=1, le=10)
    tool_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    # Consecutive failed tool calls (all processes) that open a service's circuit, and
    # how long it stays open before one probe call is let through.
    tool_circuit_failure_threshold: int = Field(default=5, ge=1)
    tool_circuit_reset_seconds: float = Field(default=30.0, gt=0)
    # Tool calls one process runs at once.
    tool_max_parallel: int = Field(default=32, ge=1)

    # Tool loops in completion jobs: tool rounds per job unless the request sets its own
    # ``tool_loop.max_iterations`` (at most the limit), and default budgets (unset = none).
    tool_loop_max_iterations: int = Field(default=8, ge=1)
    tool_loop_max_iterations_limit: int = Field(default=50, ge=1)
    tool_loop_max_total_tokens: int | None = Field(default=None, ge=1)
    tool_loop_max_cost_usd: float | None = Field(default=None, ge=0)
    # A tool result longer than this is truncated before the model sees it.
    tool_result_max_chars: int = Field(default=32_000, ge=256)

    # Outbound URLs (webhooks, documents): hosts and CIDRs that may be reached even though
    # they are loopback, private or link-local, e.g. "hooks.internal,10.20.0.0/16".
    outbound_allowlist: str = ""
    # Batch document enhancement. Documents given by URL are fetched by the worker.
    batch_max_documents: int = Field(default=10_000, ge=1)
    # ``POST /v1/batches`` carries whole documents: its own body limit.
    batch_max_body_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    document_max_bytes: int = Field(default=1_048_576, ge=1)
    document_fetch_timeout_seconds: float = Field(default=20.0, gt=0)
    # Where results links in webhooks point: the gateway's address as clients reach it.
    public_url: str = "http://127.0.0.1:8080"

    # Webhooks (Standard Webhooks). Per-tenant secrets, "tenant:whsec_<base64>" pairs; a
    # tenant listed twice is signed with both (rotation). Tenants not listed get a secret
    # derived from the signing key when one is set; otherwise they cannot ask for webhooks.
    webhook_secrets: SecretStr = SecretStr("")
    webhook_signing_key: SecretStr | None = None
    # Waits before each retry ("s", "m", "h" suffixes); attempts = 1 + the number of waits.
    # The default spans about a day, like Svix's; then the delivery is dead-lettered.
    webhook_retry_schedule: str = "5s,5m,30m,2h,5h,10h,10h"
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # A delivery handed to a worker is not handed out again for this long (a worker that
    # dies mid-attempt delays that delivery by at most this).
    webhook_lease_seconds: float = Field(default=60.0, gt=0)

    log_level: str = "INFO"
    log_json: bool = True

    flower_port: int = 5555
    # "user:password" for the Flower that ``llm-gateway up`` starts; unset, up makes a
    # random password and prints it (no default password that works everywhere).
    flower_basic_auth: SecretStr | None = None
    emulator_port: int = 8090

    @field_validator("tools_file", mode="before")
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


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()
