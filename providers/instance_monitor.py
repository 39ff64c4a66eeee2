"""``InstanceMonitor``: the API's view of each provider instance's live state, refreshed in
the background so routing never waits on Redis or a provider.

Every ``interval`` seconds, one pipelined Redis round trip reads which instances workers
disabled (missing credentials), which queues live workers consume (their heartbeats in
``keys.WORKERS``) and each instance's capacity use (cooldown, circuit, limits);
instances with ``discover_models`` are asked for their models (Ollama's ``/api/tags``) every
``discovery_seconds``, and what they report becomes routable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping

import httpx
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import keys
from gateway.redis_replies import text
from limits.capacity import WINDOW_MS, Usage
from limits.capacity_scripts import CapacityScripts
from providers.config import InstanceConfig, ProvidersConfig
from providers.ollama_format import list_ollama_models
from providers.router import InstanceState, ModelRouter

log = structlog.get_logger(__name__)

ModelLister = Callable[[InstanceConfig], Awaitable[list[str]]]
"""Asks an instance's server which models it has."""


def served_queues(worker_members: Iterable[object]) -> frozenset[str]:
    """The queues the live workers (``keys.WORKERS`` members) consume. A worker leaves
    the queues of the instances it disabled out of its member."""
    return frozenset(q for member in worker_members for q in keys.worker_queues(member))


def unserved_instances(served: Collection[str], instances: Iterable[InstanceConfig]) -> set[str]:
    """Instances whose queue no live worker consumes: a job sent there waits for one."""
    return {inst.name for inst in instances if inst.queue not in served}


def disabled_instances(
    reported: Mapping[bytes | str, bytes | str],
    worker_members: Iterable[bytes | str],
    instances: Iterable[InstanceConfig],
) -> dict[str, str]:
    """Instances a worker reported disabled (``DISABLED_INSTANCES``) that no live worker
    serves: with mixed workers, one holding the credentials keeps the instance enabled."""
    served = served_queues(worker_members)
    queues = {inst.name: inst.queue for inst in instances}
    return {
        name: reason
        for name, reason in ((text(k), text(v)) for k, v in reported.items())
        if name in queues and queues[name] not in served
    }


def has_headroom(inst: InstanceConfig, usage: Usage) -> bool:
    """Whether a new job could start on ``inst`` now, by what Redis knows."""
    limits = inst.limits
    return not (
        usage.cooldown_seconds > 0
        or usage.circuit == "open"
        or usage.waiting > 0
        or (limits.rpm is not None and usage.requests_last_minute >= limits.rpm)
        or (limits.tpm is not None and usage.tokens_last_minute >= limits.tpm)
        or (limits.max_concurrency is not None and usage.in_flight >= limits.max_concurrency)
    )


async def list_server_models(http: httpx.Client, inst: InstanceConfig) -> list[str]:
    """The models an instance's server reports (only Ollama has a listing to discover).

    Ollama lists tagged names; ``llama3.2:latest`` is also routable as ``llama3.2``, as
    Ollama itself resolves an untagged name to ``:latest``.
    """
    if inst.type != "ollama" or not inst.base_url:
        return []
    names = await asyncio.to_thread(list_ollama_models, http, inst.base_url, 5.0)
    bare = [n.removesuffix(":latest") for n in names if n.endswith(":latest")]
    return list(dict.fromkeys([*names, *bare]))


class InstanceMonitor:
    """Keeps ``states`` (for ``ModelRouter.route``) and discovered models fresh."""

    def __init__(
        self,
        redis: Redis,
        providers: ProvidersConfig,
        router: ModelRouter,
        *,
        interval: float = 1.0,
        worker_fresh_seconds: float = 15.0,
        list_models: ModelLister | None = None,
    ) -> None:
        self._redis = redis
        self._capacity = CapacityScripts(redis)
        self._instances = list(providers.instances.values())
        self._router = router
        self._interval = interval
        self._worker_fresh_seconds = worker_fresh_seconds
        self._discovery: asyncio.Task[None] | None = None
        # One client for every discovery: a new one per call would build a TLS context
        # each time, tens of milliseconds of C code that holds the GIL (the event loop
        # stalls behind it). Made on first use: most deployments discover nothing.
        self._http: httpx.Client | None = None
        self._list_models = list_models or self._list_server_models
        self._next_discovery: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self.states: dict[str, InstanceState] = {}
        self.disabled: dict[str, str] = {}
        # The queues live workers consume, as of the last refresh.
        self.served: frozenset[str] = frozenset()

    async def start(self) -> None:
        """Refresh once (so the first request routes on real state), then in the background.
        Discovery is not awaited: a model server that is down must not delay start-up."""
        await self.refresh(wait_for_discovery=False)
        self._task = asyncio.create_task(self._run(), name="instance-monitor")

    async def stop(self) -> None:
        for task in (self._task, self._discovery):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._http is not None:
            self._http.close()

    async def _list_server_models(self, inst: InstanceConfig) -> list[str]:
        if self._http is None:
            self._http = httpx.Client()
        return await list_server_models(self._http, inst)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.refresh(wait_for_discovery=False)

    async def refresh(self, *, wait_for_discovery: bool = True) -> None:
        """One pass; a failure keeps the last known state (logged, never raised). Discovery
        runs beside it, so a slow model server never delays the state refresh."""
        try:
            await self._refresh_states()
        except RedisError as exc:
            log.warning("instance_states_unavailable", error=str(exc))
        if self._discovery is None or self._discovery.done():
            self._discovery = asyncio.create_task(self._discover(), name="model-discovery")
        if wait_for_discovery:
            await self._discovery

    async def serves(self, queue: str) -> bool:
        """Whether a live worker consumes ``queue``; a queue the last refresh did not see
        served is checked again at once (a worker may have just started)."""
        if queue not in self.served:
            await self.refresh(wait_for_discovery=False)
        return queue in self.served

    async def _refresh_states(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(keys.DISABLED_INSTANCES)
        pipe.zrangebyscore(keys.WORKERS, time.time() - self._worker_fresh_seconds, "+inf")
        for inst in self._instances:
            await self._capacity.usage(inst.name, WINDOW_MS, client=pipe)
        replies = await pipe.execute()
        disabled = disabled_instances(replies[0], replies[1], self._instances)
        self.disabled = disabled
        self.served = served_queues(replies[1])
        self.states = {
            inst.name: InstanceState(
                disabled=inst.name in disabled,
                headroom=has_headroom(inst, Usage.from_reply(reply)),
                served=inst.queue in self.served,
            )
            for inst, reply in zip(self._instances, replies[2:], strict=True)
        }

    async def _discover(self) -> None:
        now = time.monotonic()
        for inst in self._instances:
            if not inst.discover_models or self._next_discovery.get(inst.name, 0.0) > now:
                continue
            self._next_discovery[inst.name] = now + inst.discovery_seconds
            try:
                models = await self._list_models(inst)
            except Exception as exc:  # the server is down: keep what it last reported
                log.warning("model_discovery_failed", instance=inst.name, error=str(exc))
                continue
            if self._router.set_discovered(inst.name, models):
                log.info("models_discovered", instance=inst.name, models=sorted(models))
