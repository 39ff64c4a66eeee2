"""Builds the FastAPI app. ``uvicorn api.main:app`` serves it; settings and connections are
created in the lifespan, not at import."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.heavy_lane import HeavyLaneMiddleware
from api.lane_sibling import LaneSibling
from api.middleware import RequestContextMiddleware
from api.openapi import install_openapi
from api.responses import FastJSONResponse
from api.routes import (
    batches,
    chat,
    embeddings,
    health,
    job_streams,
    jobs,
    messages,
    models,
    providers,
    sessions,
    storage,
    tools,
    usage,
    webhooks,
)
from api.services import ApiServices
from gateway import tracing
from gateway.logs import configure_logging
from gateway.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API app. ``settings`` defaults to the environment, read at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or Settings()
        resolved.check_auth_configured()
        configure_logging(resolved.log_level, resolved.log_json)
        app.state.settings = resolved
        app.state.services = await ApiServices.start(resolved)
        app.state.metrics = app.state.services.metrics
        # Large bodies go to a sibling process once it is up (``api.heavy_lane``).
        app.state.heavy_lane = LaneSibling.start(resolved, app.state.metrics)
        _tune_gc()
        # Each time the loop waits on a socket it lets the GIL go, and getting it back from a
        # thread parsing a large body can take the whole switch interval (5 ms by default),
        # once per socket operation. At 1 ms, with 8 clients sending the heaviest tools body,
        # /health p50 went 22 -> 14 ms and p99 150-181 -> 111-149 ms (docs/benchmarks.md).
        sys.setswitchinterval(resolved.api_switch_interval_ms / 1000)
        try:
            yield
        finally:
            if app.state.heavy_lane is not None:
                await app.state.heavy_lane.close()
            await app.state.services.close()

    app = FastAPI(
        title="llm-gateway",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(RequestContextMiddleware)
    # Read from OTEL_* at import, like uvicorn's own start-up: the middleware must be in place
    # before the app first serves (gateway.tracing; off unless configured).
    if tracing.setup("llm-gateway-api"):
        tracing.instrument_fastapi(app)
    # Outermost: a request for the sibling is passed on before anything here reads it.
    app.add_middleware(HeavyLaneMiddleware)
    # Hot routes first: matching walks the routes in order, and with FastAPI's included
    # routers each miss costs (moving chat ahead of the job routes cut a cache hit's API
    # CPU by ~20 %, bench/cache_bench.py).
    routers = (health, chat, messages, jobs, job_streams, embeddings, batches, models, providers)
    for module in (*routers, sessions, tools, webhooks, storage, usage):
        app.include_router(module.router)
    return app


def _tune_gc() -> None:
    """Keep the garbage collector's pauses short once the app has started.

    A large request allocates tens of thousands of objects, and with the default
    thresholds a full collection then ran every few seconds under load, each holding the
    GIL (so the event loop) for up to ~170 ms of CPU, most of it spent walking the ~100k
    objects the imports made. Those are frozen out of every later collection, and young
    collections run less often (docs/benchmarks.md, "/health under load")."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


app = create_app()
