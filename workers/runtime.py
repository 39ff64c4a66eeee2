"""``WorkerRuntime``: the resources one worker process uses, built after start-up (never at
import) and closed at shutdown: Redis, the job store, provider clients, the heartbeat."""

from __future__ import annotations

import os
import threading
import time

import structlog
from redis import Redis

from gateway import keys
from gateway.settings import Settings
from providers.base import Provider
from providers.config import ProvidersConfig, load_providers
from providers.registry import build_provider
from tasks.execution import JobRunner, RetryPolicy
from tasks.sync_store import SyncJobStore
from tools.registry import ToolRegistry

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
        self._heartbeat: threading.Thread | None = None
        self.runner = JobRunner(
            store=SyncJobStore(self.redis),
            instances=dict(self.providers.instances),
            provider_for=self.provider_for,
            tools=ToolRegistry(),
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                backoff_seconds=settings.retry_backoff_seconds,
                backoff_max_seconds=settings.retry_backoff_max_seconds,
                max_countdown_seconds=settings.visibility_timeout_seconds / 2,
            ),
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

    def start_heartbeat(self, hostname: str, queues: list[str]) -> None:
        """Announce this worker (for readiness and the providers view) until shutdown."""
        member = f"{hostname}|{','.join(sorted(queues))}"
        interval = self.settings.worker_heartbeat_seconds

        def beat() -> None:
            while not self._stop.is_set():
                try:
                    self.redis.zadd(keys.WORKERS, {member: time.time()})
                except Exception as exc:  # Redis restarting: keep beating
                    log.warning("worker_heartbeat_failed", error=str(exc))
                self._stop.wait(interval)
            try:
                self.redis.zrem(keys.WORKERS, member)
            except Exception as exc:
                log.warning("worker_heartbeat_cleanup_failed", error=str(exc))

        self._heartbeat = threading.Thread(target=beat, name="worker-heartbeat", daemon=True)
        self._heartbeat.start()

    def close(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=2)
        for client in self._clients.values():
            client.close()
        self.redis.close()
