"""``WorkerRuntime``: the resources one worker process uses, built after start-up (never at
import) and closed at shutdown: Redis, the job store, provider clients, and two
background threads — the heartbeat (readiness) and the upkeep loop (leases, the reaper
and the deferred-job pump)."""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import start_http_server
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from gateway import keys
from gateway.credentials import CredentialsMissing
from gateway.due_set import Pumped
from gateway.errors import ProviderUnavailable
from gateway.outbound import OutboundPolicy
from gateway.outbound_http import fetch_document, guarded_client
from gateway.queues import WEBHOOKS_QUEUE
from gateway.redis_connect import RedisEndpoint
from gateway.settings import Settings
from limits.capacity import ProviderCapacity
from providers.base import Provider
from providers.config import ProvidersConfig, load_providers
from providers.instance_monitor import served_queues, unserved_instances
from providers.pricing import load_catalogue
from providers.registry import SdkMissing, build_provider, resolve_credentials
from storage.config import load_storage
from storage.routes import StorageRoutes
from tasks.cache.store import SyncResponseCache
from tasks.documents.cache import DocumentCache
from tasks.documents.resolver import DocumentLimits, DocumentResolver
from tasks.jobs.execution import JobRunner
from tasks.jobs.in_flight import InFlight
from tasks.jobs.sync_store import SyncJobStore
from tasks.kinds.base import ModelParts, kinds_table
from tasks.kinds.completion import CompletionKind
from tasks.kinds.embedding import EmbeddingKind
from tasks.kinds.enhancement.pipeline import EnhancementRunner
from tasks.kinds.token_count import TokenCountKind
from tasks.kinds.tool import ToolKind
from tasks.loops.call_metrics import CallMetrics
from tasks.loops.fallbacks import FallbackPlanner
from tasks.loops.first_calls import FirstCalls
from tasks.loops.model_calls import ModelCalls, RetryPolicy
from tasks.loops.runner import LoopRunner
from tasks.loops.state import LoopLimits
from tasks.prompts.templates import PromptTemplates
from tasks.sessions.store import SyncSessionStore
from tasks.webhooks.deliveries import WebhookDeliverer
from tasks.webhooks.secrets import WebhookSecrets
from tools.toolbox import ToolBox

log = structlog.get_logger(__name__)


def outage_retry(seconds: float) -> Retry:
    """Retry a Redis command that hit a connection error for about ``seconds``.

    A worker rides out a Redis restart or failover shorter than a job lease: a reply that
    lands meanwhile is paid for, and is recorded once Redis is back (the lease is still
    this worker's), instead of being dropped and the job called again after its lease
    lapses. Longer, and the lease may be gone anyway: the command fails as before."""
    # Waits of 0.1, 0.2, 0.4 and 0.8 s, then 1 s each: 1.5 s + 1 s a retry after the 4th.
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=4 + math.ceil(seconds))


class WorkerRuntime:
    """Owns a worker process's connections; provider clients are built on first use."""

    def __init__(
        self,
        settings: Settings,
        providers: ProvidersConfig | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers or load_providers(settings.providers_file)
        # One Redis connection per thread that may use one at once: each pool thread the
        # worker really runs (``--concurrency`` may say more than the setting), each tool
        # thread (a tool call checks its service's circuit), and the upkeep and heartbeat
        # threads with a margin. Fewer, and a job's thread fails mid-run with "Too many
        # connections" (a full pool is not retried): its run is given up with the lease
        # still set, and the job is run, and its provider paid, a second time once the
        # lease lapses (docs/benchmarks.md, "Streaming").
        self.threads = threads or settings.worker_concurrency
        self.redis = RedisEndpoint.from_settings(settings).sync_client(
            max_connections=self.threads + settings.tool_max_parallel + 4,
            retry=outage_retry(settings.job_lease_seconds),
        )
        self._clients: dict[str, Provider] = {}
        # Instances this process could not set up (no credentials, or no SDK for the type):
        # instance → reason.
        self.disabled: dict[str, str] = {}
        # Instances no live worker serves (by the workers' heartbeats): fallbacks skip them.
        self.unavailable: frozenset[str] = frozenset()
        # The queues this worker consumes (set in ``start``).
        self._served: frozenset[str] = frozenset()
        # Per instance: one slow resolution (Vault, a metadata probe) blocks no other.
        self._locks = {name: threading.Lock() for name in self.providers.instances}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.in_flight = InFlight()
        # Served on ``worker_metrics_port`` from ``start`` (none if 0).
        self.metrics = CallMetrics()
        self._metrics_server: WSGIServer | None = None
        self.store = SyncJobStore(
            self.redis,
            settings.job_lease_seconds,
            settings.stream_max_events,
            usage_retention_seconds=settings.usage_retention_days * 86400,
        )
        self.capacity = ProviderCapacity(
            self.redis,
            lease_seconds=settings.job_lease_seconds,
            poll_seconds=settings.capacity_poll_seconds,
        )
        self.tools = ToolBox.build(settings, self.redis)
        instances = dict(self.providers.instances)
        calls = ModelCalls(
            store=self.store,
            instances=instances,
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                backoff_seconds=settings.retry_backoff_seconds,
                backoff_max_seconds=settings.retry_backoff_max_seconds,
                rate_limit_cooldown_seconds=settings.rate_limit_cooldown_seconds,
            ),
            capacity=self.capacity,
            planner=FallbackPlanner(self.providers, lambda: self.unavailable),
            in_flight=self.in_flight,
            wait_in_slot_seconds=settings.capacity_wait_in_slot_seconds,
            metrics=self.metrics,
            first_calls=FirstCalls(self.store, self.capacity, instances),
        )
        self.outbound = OutboundPolicy.from_allowlist(settings.outbound_allowlist)
        self.storage = StorageRoutes.from_config(load_storage(settings.storage_file), threads=1)
        # Documents given by URL, and webhooks: only where the outbound policy allows; a
        # document may also be a presigned URL of a configured store (exactly its endpoint).
        endpoints = [r.config.endpoint_url for r in self.storage.routes.values()]
        self.documents_http = guarded_client(
            self.outbound.allowing_endpoints(e for e in endpoints if e),
            timeout=settings.document_fetch_timeout_seconds,
        )
        self.webhooks = WebhookDeliverer(
            redis=self.redis,
            secrets=WebhookSecrets.from_settings(settings),
            policy=self.outbound,
            http=guarded_client(self.outbound, timeout=settings.webhook_timeout_seconds),
            schedule=settings.webhook_retry_delays,
            lease_seconds=settings.webhook_lease_seconds,
            public_url=settings.public_url,
            attempt_seconds=settings.webhook_timeout_seconds,
        )
        # Set in ``start``: whether this worker consumes the webhook queue (and pumps it).
        self.delivers_webhooks = False
        parts = ModelParts(
            calls=calls,
            loops=LoopRunner(calls, self.tools.executor, settings.tool_result_max_chars),
            provider_for=self.provider_for,
            tools=self.tools.registry,
        )
        # Every job kind this worker runs, by the type the runner looks up.
        kinds = kinds_table(
            CompletionKind(
                parts=parts,
                sessions=SyncSessionStore(self.redis),
                loop_defaults=LoopLimits.defaults(settings),
                max_iterations_ceiling=settings.tool_loop_max_iterations_limit,
                session_max_messages=settings.session_max_messages,
                cache=SyncResponseCache(self.redis, settings.cache_max_entry_bytes),
                documents=DocumentResolver(
                    http=self.documents_http,
                    storage=self.storage,
                    cache=DocumentCache(
                        self.redis,
                        ttl_seconds=settings.document_cache_ttl_seconds,
                        max_entry_bytes=settings.document_cache_max_entry_bytes,
                    ),
                    limits=DocumentLimits.parse(
                        settings.document_max_bytes, settings.document_types
                    ),
                ),
            ),
            ToolKind(executor=self.tools.executor, calls=calls),
            EnhancementRunner(parts=parts, prompts=PromptTemplates(), fetch=self.fetch_document),
            EmbeddingKind(calls=calls, provider_for=self.provider_for),
            TokenCountKind(calls=calls, provider_for=self.provider_for),
        )
        self.runner = JobRunner(calls=calls, kinds=kinds)

    def fetch_document(self, url: str) -> str:
        """A document's text from its URL, size-limited, through the outbound policy."""
        limit = self.settings.document_max_bytes
        return fetch_document(self.documents_http, url, max_bytes=limit).text

    def provider_for(self, instance: str) -> Provider:
        """The instance's client, built on first use; ``ProviderUnavailable`` if disabled."""
        client = self._clients.get(instance)
        if client is not None:
            return client
        with self._locks[instance]:
            if instance not in self._clients and instance not in self.disabled:
                self._build(instance)
        client = self._clients.get(instance)
        if client is None:
            raise ProviderUnavailable(
                f"provider instance {instance} is disabled: no usable credentials or SDK",
                provider=instance,
            )
        return client

    def _build(self, instance: str) -> None:
        config = self.providers.instances[instance]
        try:
            # The one place provider credentials are read: worker processes only.
            credentials = resolve_credentials(config)
            self._clients[instance] = build_provider(config, credentials)
        except (CredentialsMissing, SdkMissing) as exc:
            self.disabled[instance] = str(exc)
        except Exception as exc:
            # The class name only: an SDK's message may quote what it choked on (a key).
            failure = type(exc).__name__
            self.disabled[instance] = f"credentials or client set-up failed ({failure})"

    def start(self, hostname: str, queues: list[str]) -> list[str]:
        """Resolve credentials and build clients for ``queues``, then start the heartbeat
        and upkeep threads (they run until ``close``). Returns the queues of instances
        disabled for missing credentials or SDKs: the caller stops consuming them."""
        disabled = self._enable_instances(queues)
        load_catalogue()
        # The consumer thread hands each job to a pool thread, which then waits for the GIL
        # until the consumer lets it go: up to the whole switch interval (5 ms by default).
        sys.setswitchinterval(self.settings.worker_switch_interval_ms / 1000)
        self.delivers_webhooks = WEBHOOKS_QUEUE in queues
        served = [q for q in queues if q not in disabled]
        self._served = frozenset(served)
        member = keys.worker_member(hostname, served)
        self._spawn("worker-heartbeat", lambda: self._heartbeat(member))
        self._spawn("worker-upkeep", self._upkeep)
        self._serve_metrics()
        return disabled

    def _serve_metrics(self) -> None:
        """This process's metrics on ``worker_metrics_port``. A port already taken (two
        workers on one host given the same one) is logged, not fatal: jobs matter more."""
        port = self.settings.worker_metrics_port
        if not port:
            return
        try:
            server, _ = start_http_server(port, self.settings.host, self.metrics.registry)
        except OSError as exc:
            log.error("worker_metrics_port_unavailable", port=port, error=str(exc))
            return
        self._metrics_server = server
        log.info("worker_metrics_serving", port=port)

    def _enable_instances(self, queues: list[str]) -> list[str]:
        """Build the provider clients this worker will use now, not on its first job (the
        first call after start-up then reaches the provider as fast as the rest). An
        instance without credentials, or whose SDK is not installed, is disabled with one
        log line, not a crash."""
        disabled: list[str] = []
        for inst in self.providers.instances.values():
            if inst.queue not in queues:
                continue
            try:
                self.provider_for(inst.name)
            except ProviderUnavailable:
                reason = self.disabled[inst.name]
                log.error("provider_instance_disabled", instance=inst.name, reason=reason)
                disabled.append(inst.queue)
                self._publish_disabled(inst.name, reason)
                continue
            self._publish_disabled(inst.name, None)
        return disabled

    def _publish_disabled(self, instance: str, reason: str | None) -> None:
        """Tell the API (routing, ``/v1/providers``) which instances are disabled."""
        try:
            if reason is None:
                self.redis.hdel(keys.DISABLED_INSTANCES, instance)
            else:
                self.redis.hset(keys.DISABLED_INSTANCES, instance, reason)
        except Exception as exc:  # Redis not up yet: routing just doesn't know
            log.warning("provider_instance_state_unpublished", error=str(exc))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _heartbeat(self, member: str) -> None:
        """Announce this worker (readiness, the providers view) until shutdown, and learn
        from the others' heartbeats which instances nobody serves (fallbacks skip them)."""
        beat_file = self.settings.worker_heartbeat_file
        while not self._stop.is_set():
            if beat_file is not None:
                # Before Redis and whatever Redis says: the probe asks whether this process
                # still runs its loops, and restarting a worker does not bring Redis back.
                self._touch(beat_file)
            try:
                self.redis.zadd(keys.WORKERS, {member: time.time()})
                self.unavailable = self._unavailable_instances()
            except Exception as exc:  # Redis restarting: keep beating
                log.warning("worker_heartbeat_failed", error=str(exc))
            self._stop.wait(self.settings.worker_heartbeat_seconds)
        try:
            self.redis.zrem(keys.WORKERS, member)
        except Exception as exc:
            log.warning("worker_heartbeat_cleanup_failed", error=str(exc))

    @staticmethod
    def _touch(path: Path) -> None:
        try:
            path.touch()
        except OSError as exc:  # a read-only or missing directory: the probe will say so
            log.warning("worker_heartbeat_file_failed", path=str(path), error=str(exc))

    def _upkeep(self) -> None:
        """Pump due deferred jobs and webhook deliveries when they fall due; renew this
        worker's leases and reap lapsed ones every third of a lease.

        Every worker pumps, so a dead one is never missed; between passes each sleeps until
        the next item is due (at most ``deferred_idle_poll_seconds``), not a fixed 50 ms:
        with a dozen idle workers polling every 50 ms the stack spent about a fifth of a
        core on empty passes (docs/benchmarks.md)."""
        lease_every = self.settings.job_lease_seconds / 3
        next_lease = 0.0
        while not self._stop.is_set():
            sleep = self.settings.deferred_idle_poll_seconds
            try:
                sleep = min(sleep, self._pump(self.store.pump))
                if self.delivers_webhooks:
                    sleep = min(sleep, self._pump(self.webhooks.pump))
                if time.monotonic() >= next_lease:
                    jobs, calls = self.in_flight.snapshot()
                    self.store.renew(jobs)
                    self.capacity.renew(calls)
                    # Only after a successful renewal: a failed one is retried next tick.
                    next_lease = time.monotonic() + lease_every
                    requeued, failed = self.store.reap(self.settings.max_attempts)
                    if requeued or failed:
                        log.warning("lapsed_leases_reaped", requeued=requeued, failed=failed)
            except Exception as exc:  # Redis restarting: the next round catches up
                log.warning("worker_upkeep_failed", error=str(exc))
                sleep = self.settings.deferred_poll_seconds
            sleep = min(sleep, max(next_lease - time.monotonic(), 0.0))
            self._stop.wait(max(sleep, self.settings.deferred_poll_seconds))

    @staticmethod
    def _pump(pump: Callable[[], Pumped]) -> float:
        """Run ``pump`` until it is drained (a backlog can fall due at once); the seconds
        until its next item is due (infinity: none)."""
        pumped = pump()
        while pumped.count >= 200:
            pumped = pump()
        return math.inf if pumped.next_due_seconds is None else pumped.next_due_seconds

    def _unavailable_instances(self) -> frozenset[str]:
        """Instances whose queue no live worker consumes (instances disabled everywhere
        included: a worker leaves their queues out of its heartbeat). This worker's own
        queues count as served before its first heartbeat lands."""
        fresh_after = time.time() - 3 * self.settings.worker_heartbeat_seconds
        members = self.redis.zrangebyscore(keys.WORKERS, fresh_after, "+inf")
        served = served_queues(members) | self._served
        return frozenset(unserved_instances(served, self.providers.instances.values()))

    def close(self) -> None:
        self._stop.set()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        for client in self._clients.values():
            client.close()
        self.tools.close()
        self.documents_http.close()
        self.storage.close()
        self.webhooks.http.close()
        self.redis.close()
