"""The response cache at the synchronous chat endpoints (``/v1/chat/completions``,
``/v1/messages``): decide from the headers and the tenant's default whether a request
uses the cache, look it up, and answer a hit without a job, a queue or a provider.

A hit is rendered from a job record made for it (succeeded, cost 0, never stored), so
it takes exactly the shape a computed answer takes, streamed or not; a miss carries the
entry's key on its job, and the worker caches the answer (``tasks.cache.store``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Header

from api.services import ApiServices
from tasks.cache.policy import (
    CacheMode,
    CacheSettings,
    cache_key,
    requested_mode,
    ttl_seconds,
    uncacheable,
)
from tasks.cache.store import CachedResponse
from tasks.jobs.record import JobRecord, JobStatus, new_job_id
from tasks.jobs.submission import JobSpec

CACHE_HEADER = "x-llm-gateway-cache"
CACHE_AGE_HEADER = "x-llm-gateway-cache-age"

CacheModeHeader = Annotated[
    str | None,
    Header(
        alias=CACHE_HEADER,
        description="response cache: use (read, store on a miss), refresh (store only), off",
    ),
]
CacheTtlHeader = Annotated[
    str | None,
    Header(
        alias="x-llm-gateway-cache-ttl",
        description="seconds a stored answer lives (1 to LLM_GATEWAY_CACHE_MAX_TTL_SECONDS)",
    ),
]


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """The request's spec (with the entry to store to, when it uses the cache), the hit's
    record when there was one, and the headers that say what the cache did."""

    spec: JobSpec
    hit: JobRecord | None
    headers: dict[str, str]


async def look_up(
    services: ApiServices,
    spec: JobSpec,
    mode_header: str | None,
    ttl_header: str | None,
) -> CacheLookup:
    settings = services.settings
    limits = settings.tenant_limits.get(spec.tenant)
    tenant_ttl = limits.cache_ttl_seconds if limits is not None else None
    mode = requested_mode(mode_header, tenant_ttl)
    if mode is CacheMode.OFF:
        return CacheLookup(spec, None, {})
    bounds = CacheSettings(settings.cache_default_ttl_seconds, settings.cache_max_ttl_seconds)
    ttl = ttl_seconds(ttl_header, tenant_ttl, bounds)
    if uncacheable(spec.request, spec.session_id, services.tools) is not None:
        return CacheLookup(spec, None, {CACHE_HEADER: "skip"})
    key = cache_key(spec.tenant, spec.request)
    planned = dataclasses.replace(spec, cache_key=key, cache_ttl=ttl)
    if mode is CacheMode.REFRESH:
        return CacheLookup(planned, None, {CACHE_HEADER: "stored"})
    cached = await services.cache.lookup(key)
    if cached is None:
        return CacheLookup(planned, None, {CACHE_HEADER: "miss"})
    age = cached.age_seconds()
    headers = {CACHE_HEADER: "hit", CACHE_AGE_HEADER: str(int(age))}
    return CacheLookup(spec, hit_record(spec, cached), headers)


def hit_record(spec: JobSpec, cached: CachedResponse) -> JobRecord:
    """The answer of a hit as a succeeded job would hold it: no provider was called, so
    it costs nothing; ``usage`` is the cached answer's, for the caller's information."""
    now = time.time()
    model = cached.result.get("model") or spec.request.get("model")
    return JobRecord(
        id=new_job_id(),
        tenant=spec.tenant,
        type=spec.type,
        status=JobStatus.SUCCEEDED,
        request=spec.request,
        created_at=now,
        finished_at=now,
        model=str(model) if model else None,
        result=cached.result,
        usage=cached.usage,
        cost_usd=0.0,
    )
