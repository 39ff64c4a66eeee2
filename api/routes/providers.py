"""``GET /v1/providers``: each provider instance's queue, capacity use, limits and circuit."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from api.deps import Services, Tenant
from api.schemas import ProviderInstance, ProviderList, error_responses
from api.schemas.catalog import ProviderCircuit, ProviderLimits, ProviderUsage
from api.schemas.errors import AUTHENTICATED
from gateway import keys
from gateway.queues import MAX_PRIORITY, queue_key
from limits.capacity import WINDOW_MS, Usage
from providers.config import InstanceConfig

router = APIRouter(prefix="/v1", tags=["providers"])


@router.get("/providers", responses=error_responses(*AUTHENTICATED))
async def list_providers(_: Tenant, services: Services) -> ProviderList:
    """One pipelined round trip for every instance: queue depth, live workers, usage."""
    instances = list(services.providers.instances.values())
    fresh_after = time.time() - 3 * services.settings.worker_heartbeat_seconds
    pipe = services.redis.pipeline(transaction=False)
    pipe.zrangebyscore(keys.WORKERS, fresh_after, "+inf")
    for inst in instances:
        for priority in range(MAX_PRIORITY + 1):
            pipe.llen(queue_key(inst.queue, priority))
        await services.capacity_scripts.usage(inst.name, WINDOW_MS, client=pipe)
    replies = await pipe.execute()
    workers = _workers_per_queue(replies[0])
    data = []
    step = MAX_PRIORITY + 2
    for i, inst in enumerate(instances):
        chunk = replies[1 + i * step : 1 + (i + 1) * step]
        usage = Usage.from_reply(chunk[-1])
        depth = sum(int(n) for n in chunk[:-1])
        # Why workers disabled it (e.g. "no credentials (api_key) found; tried env X"):
        # names of sources, never values.
        disabled = services.monitor.disabled.get(inst.name)
        data.append(_describe(inst, depth, workers.get(inst.queue, 0), usage, disabled))
    return ProviderList(object="list", data=data)


def _workers_per_queue(members: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in members:
        for queue in keys.worker_queues(member):
            counts[queue] = counts.get(queue, 0) + 1
    return counts


def _describe(
    inst: InstanceConfig, depth: int, workers: int, usage: Usage, disabled: str | None
) -> ProviderInstance:
    limits = inst.limits
    return ProviderInstance(
        name=inst.name,
        object="provider_instance",
        type=inst.type,
        queue=inst.queue,
        queue_depth=depth,
        waiting_for_capacity=usage.waiting,
        in_flight=usage.in_flight,
        workers=workers,
        limits=ProviderLimits(
            rpm=limits.rpm, tpm=limits.tpm, max_concurrency=limits.max_concurrency
        ),
        usage=ProviderUsage(
            requests_last_minute=usage.requests_last_minute,
            tokens_last_minute=usage.tokens_last_minute,
        ),
        cooldown_seconds=usage.cooldown_seconds,
        circuit=ProviderCircuit(
            state=usage.circuit,
            consecutive_failures=usage.consecutive_failures,
            probe_in_seconds=usage.probe_in_seconds,
            failure_threshold=inst.circuit.failure_threshold,
            reset_seconds=inst.circuit.reset_seconds,
        ),
        fallbacks=inst.fallbacks,
        priority=inst.priority,
        weight=inst.weight,
        region=inst.region,
        disabled=disabled,
    )
