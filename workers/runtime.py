"""``WorkerRuntime``: the resources one worker process uses, built after start-up (never at
import) and closed at shutdown: Redis, the job store, provider clients, and two
background threads — the heartbeat (readiness) and the upkeep loop (leases, the reaper
and the deferred-job pump)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import structlog
from redis import Redis

from gateway import keys
from gateway.settings import Settings
from providers.base import Provider
from providers.capacity import ProviderCapacity
from providers.config import ProvidersConfig, load_providers
from providers.registry import build_provider
from tasks.execution import JobRunner
from tasks.in_flight import InFlight
from tasks.model_calls import ModelCalls, RetryPolicy
from tasks.routing import FallbackPlanner
from tasks.sessions import SyncSessionStore
from tasks.sync_store import SyncJobStore
from tasks.tool_loop import LoopLimits
from tools.toolbox import ToolBox

log = structlog.get_logger(__name__)


class WorkerRuntime:
    """Owns a worker process's connections; provider clients are built on first use."""

    def __init__(self, settings: Settings, providers: ProvidersConfig | None = None) -> None:
        self.settings = settings
        self.providers = providers or load_providers(settings.providers_file)
        self.redis = Redis.from_url(
            settings.redis_url, max_connections=settings.worker_concurrency + 8
        )
        self._clients: dict[str, Provider] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.in_flight = InFlight()
        self.store = SyncJobStore(self.redis, settings.job_lease_seconds)
        self.capacity = ProviderCapacity(
            self.redis,
            lease_seconds=settings.job_lease_seconds,
            poll_seconds=settings.capacity_poll_seconds,
        )
        self.tools = ToolBox.build(settings, self.redis)
        calls = ModelCalls(
            store=self.store,
            instances=dict(self.providers.instances),
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                backoff_seconds=settings.retry_backoff_seconds,
                backoff_max_seconds=settings.retry_backoff_max_seconds,
                rate_limit_cooldown_seconds=settings.rate_limit_cooldown_seconds,
            ),
            capacity=self.capacity,
            planner=FallbackPlanner(self.providers),
            in_flight=self.in_flight,
            wait_in_slot_seconds=settings.capacity_wait_in_slot_seconds,
        )
        self.runner = JobRunner(
            calls=calls,
            provider_for=self.provider_for,
            tools=self.tools.registry,
            executor=self.tools.executor,
            sessions=SyncSessionStore(self.redis),
            loop_defaults=LoopLimits.defaults(settings),
            max_iterations_ceiling=settings.tool_loop_max_iterations_limit,
            tool_result_max_chars=settings.tool_result_max_chars,
            session_max_messages=settings.session_max_messages,
        )

    def provider_for(self, instance: str) -> Provider:
        client = self._clients.get(instance)
        if client is not None:
            return client
        with self._lock:
            if instance not in self._clients:
                config = self.providers.instances[instance]
                # The one place provider credentials are read: worker processes only.
                self._clients[instance] = build_provider(config, os.environ)
            return self._clients[instance]

    def start(self, hostname: str, queues: list[str]) -> None:
        """Start the heartbeat and upkeep threads; they run until ``close``."""
        member = keys.worker_member(hostname, queues)
        self._warm_clients(queues)
        self._spawn("worker-heartbeat", lambda: self._heartbeat(member))
        self._spawn("worker-upkeep", self._upkeep)

    def _warm_clients(self, queues: list[str]) -> None:
        """Build the provider clients this worker will use now, not on its first job: the
        first call after start-up then reaches the provider as fast as the rest."""
        for inst in self.providers.instances.values():
            if inst.queue in queues:
                try:
                    self.provider_for(inst.name)
                except Exception as exc:  # retried on first use, where the job reports it
                    log.warning("provider_client_failed", instance=inst.name, error=str(exc))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _heartbeat(self, member: str) -> None:
        """Announce this worker (readiness, the providers view) until shutdown."""
        while not self._stop.is_set():
            try:
                self.redis.zadd(keys.WORKERS, {member: time.time()})
            except Exception as exc:  # Redis restarting: keep beating
                log.warning("worker_heartbeat_failed", error=str(exc))
            self._stop.wait(self.settings.worker_heartbeat_seconds)
        try:
            self.redis.zrem(keys.WORKERS, member)
        except Exception as exc:
            log.warning("worker_heartbeat_cleanup_failed", error=str(exc))

    def _upkeep(self) -> None:
        """Pump due deferred jobs often; renew this worker's leases and reap lapsed ones
        every third of a lease."""
        lease_every = self.settings.job_lease_seconds / 3
        next_lease = 0.0
        while not self._stop.is_set():
            try:
                while self.store.pump() >= 200:
                    pass  # a backlog came due at once: drain it before sleeping
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
            self._stop.wait(self.settings.deferred_poll_seconds)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        for client in self._clients.values():
            client.close()
        self.tools.close()
        self.redis.close()
