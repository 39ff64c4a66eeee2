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
    responses={
        503: {
            "model": Readiness | RedisDown,
            "description": "No worker has sent a heartbeat recently, or Redis is down.",
        }
    },
)
async def ready(services: Services, response: Response) -> Readiness | FastJSONResponse:
    """Ready when Redis answers and at least one worker has sent a heartbeat recently.
    Reports which provider queues have a live consumer."""
    fresh_after = time.time() - 3 * services.settings.worker_heartbeat_seconds
    try:
        await services.redis.ping()
        members = await services.redis.zrangebyscore(keys.WORKERS, fresh_after, "+inf")
    except (RedisError, OSError):
        down = RedisDown(status="unavailable", redis="down")
        return FastJSONResponse(down.model_dump(), status_code=503)
    consumed: set[str] = set()
    for member in members:
        consumed.update(keys.worker_queues(member))
    queues = {inst.queue: inst.queue in consumed for inst in services.providers.instances.values()}
    queues[TOOLS_QUEUE] = TOOLS_QUEUE in consumed
    queues[WEBHOOKS_QUEUE] = WEBHOOKS_QUEUE in consumed
    is_ready = bool(members)
    response.status_code = 200 if is_ready else 503
    return Readiness(
        status="ready" if is_ready else "no_workers",
        redis="ok",
        workers=len(members),
        queues=queues,
        # Names only: the reasons (which sources were tried) are in /v1/providers, behind auth.
        disabled_instances=sorted(services.monitor.disabled),
    )
