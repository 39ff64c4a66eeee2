"""Liveness and readiness."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request, Response
from redis.exceptions import RedisError

from api.deps import Services
from api.metrics import CONTENT_TYPE_LATEST
from api.responses import FastJSONResponse
from api.schemas import Health, Readiness, RedisDown
from gateway import keys
from gateway.errors import AuthenticationFailed
from gateway.queues import TOOLS_QUEUE, WEBHOOKS_QUEUE

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get("/metrics", include_in_schema=False)
async def metrics(services: Services, request: Request) -> Response:
    """Prometheus exposition: this API process's HTTP metrics, the cluster-wide gauges and
    usage counters (docs/observability.md). Behind a bearer token when
    ``LLM_GATEWAY_METRICS_TOKEN`` is set."""
    token = services.settings.metrics_token
    # An empty token is no token: it must not let an empty bearer through.
    if token is not None and token.get_secret_value():
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected
        ):
            raise AuthenticationFailed(
                "/metrics needs the metrics token: send Authorization: Bearer <token>"
            )
    await services.metrics.usage.refresh(services.redis)
    return Response(await services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": RedisDown, "description": "Redis does not answer."}},
)
async def ready(services: Services) -> Readiness | FastJSONResponse:
    """Ready when Redis answers: with no worker alive the API still accepts jobs (they
    wait in their queues) and serves their status, so taking it out of the Service would
    only turn a worker outage into a total one. Live workers are counted per queue."""
    fresh_after = time.time() - 3 * services.settings.worker_heartbeat_seconds
    try:
        await services.redis.ping()
        members = await services.redis.zrangebyscore(keys.WORKERS, fresh_after, "+inf")
    except (RedisError, OSError):
        down = RedisDown(status="unavailable", redis="down")
        return FastJSONResponse(down.model_dump(), status_code=503)
    names = [inst.queue for inst in services.providers.instances.values()]
    counts = dict.fromkeys([*names, TOOLS_QUEUE, WEBHOOKS_QUEUE], 0)
    for member in members:
        for queue in keys.worker_queues(member):
            if queue in counts:
                counts[queue] += 1
    return Readiness(
        status="ready",
        redis="ok",
        workers=len(members),
        queues={queue: count > 0 for queue, count in counts.items()},
        queue_workers=counts,
        missing_workers=sorted(queue for queue, count in counts.items() if not count),
        # Names only: the reasons (which sources were tried) are in /v1/providers, behind auth.
        disabled_instances=sorted(services.monitor.disabled),
    )
