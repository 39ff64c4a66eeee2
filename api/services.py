"""``ApiServices``: what the routes depend on, built in the app's lifespan and closed with it."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from api.cluster_metrics import ClusterMetrics
from api.metrics import ApiMetrics
from gateway.offload import Offload
from gateway.outbound import OutboundPolicy
from gateway.redis_connect import RedisEndpoint
from gateway.replica_wait import ReplicaWait
from gateway.settings import Settings
from limits.capacity_scripts import CapacityScripts
from providers.config import ProvidersConfig, load_providers
from providers.instance_monitor import InstanceMonitor
from providers.router import ModelRouter
from storage.config import load_storage
from storage.routes import StorageRoutes
from tasks.batches.store import BatchStore
from tasks.batches.submission import BatchSubmitter
from tasks.cache.store import ResponseCache
from tasks.jobs.completion_hub import CompletionHub
from tasks.jobs.store import JobStore
from tasks.jobs.stream_hub import StreamHub
from tasks.jobs.submission import JobSubmitter
from tasks.kinds.request_limits import RequestLimits
from tasks.loops.state import LoopLimits
from tasks.prompts.templates import PromptTemplates
from tasks.sessions.store import SessionStore
from tasks.usage.admission import TenantAdmission
from tasks.webhooks.secrets import WebhookSecrets
from tools.circuit_scripts import CircuitScripts
from tools.registry import ToolRegistry
from tools.toolbox import build_tool_registry


@dataclass(slots=True)
class ApiServices:
    settings: Settings
    redis: Redis
    providers: ProvidersConfig
    router: ModelRouter
    store: JobStore
    hub: CompletionHub
    submitter: JobSubmitter
    sessions: SessionStore
    tools: ToolRegistry
    metrics: ApiMetrics
    monitor: InstanceMonitor
    batches: BatchStore
    batch_submitter: BatchSubmitter
    webhook_secrets: WebhookSecrets
    # Read-only scripts behind GET /v1/providers and GET /v1/tools, registered once.
    capacity_scripts: CapacityScripts
    circuit_scripts: CircuitScripts
    # Relays job streams to the SSE endpoints: one blocking read for all of them.
    streams: StreamHub
    # Large requests' parsing, validation and preparation, off the event loop.
    offload: Offload
    request_limits: RequestLimits
    # The /-s3/ routes: storage instances, their access rules, the threads their SDKs use.
    storage: StorageRoutes
    # Response-cache lookups at the sync chat endpoints (``api.response_cache``).
    cache: ResponseCache

    @classmethod
    async def start(cls, settings: Settings) -> ApiServices:
        providers = load_providers(settings.providers_file)
        storage = StorageRoutes.from_config(
            load_storage(settings.storage_file), settings.storage_threads
        )
        # One pool for request handling; pub/sub takes its own dedicated connection.
        redis = RedisEndpoint.from_settings(settings).async_client(
            max_connections=512, health_check_interval=30
        )
        offload = Offload(settings.offload_body_bytes, settings.offload_threads)
        store = JobStore(
            redis,
            settings.job_ttl_seconds,
            offload,
            ReplicaWait(settings.redis_wait_replicas, settings.redis_wait_timeout_ms),
        )

        hub = CompletionHub(redis, store.are_terminal)
        await hub.start()
        streams = StreamHub(redis)
        await streams.start()
        router = ModelRouter(providers)
        monitor = InstanceMonitor(
            redis,
            providers,
            router,
            interval=settings.instance_state_refresh_seconds,
            worker_fresh_seconds=3 * settings.worker_heartbeat_seconds,
        )
        await monitor.start()
        tools = build_tool_registry(settings)
        sessions = SessionStore(redis)
        outbound = OutboundPolicy.from_allowlist(settings.outbound_allowlist)
        secrets = WebhookSecrets.from_settings(settings)
        request_limits = RequestLimits.from_settings(settings)
        submitter = JobSubmitter(
            store=store,
            router=router,
            tools=tools,
            sessions=sessions,
            loop_defaults=LoopLimits.defaults(settings),
            max_iterations_ceiling=settings.tool_loop_max_iterations_limit,
            instance_states=lambda: monitor.states,
            outbound=outbound,
            secrets=secrets,
            prompts=PromptTemplates(),
            document_max_bytes=settings.document_max_bytes,
            request_limits=request_limits,
            embedding_max_inputs=settings.embedding_max_inputs,
            pass_unknown_parameters=settings.pass_unknown_parameters,
            admission=TenantAdmission(redis, settings.tenant_limits),
        )
        batches = BatchStore(redis, settings.job_ttl_seconds)
        batch_submitter = BatchSubmitter(
            submitter, batches, outbound, secrets, settings.batch_max_documents
        )
        metrics = ApiMetrics(
            ClusterMetrics(redis, providers.instances.values(), settings.worker_heartbeat_seconds),
            waiter_count=lambda: hub.waiter_count,
        )
        return cls(
            settings,
            redis,
            providers,
            router,
            store,
            hub,
            submitter,
            sessions,
            tools,
            metrics,
            monitor,
            batches,
            batch_submitter,
            secrets,
            CapacityScripts(redis),
            CircuitScripts(redis),
            streams,
            offload,
            request_limits,
            storage,
            ResponseCache(redis),
        )

    async def close(self) -> None:
        await self.monitor.stop()
        await self.hub.stop()
        await self.streams.stop()
        await self.redis.aclose()
        self.offload.close()
        self.storage.close()
        self.metrics.close()
