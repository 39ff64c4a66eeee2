"""The response cache at the synchronous chat endpoints (``/v1/chat/completions``,
``/v1/messages``) and for completion jobs (``POST /v1/jobs``): decide from the headers and
the tenant's default whether a request uses the cache, look it up, and answer a hit
without a queue or a provider.

At a chat endpoint a hit is rendered from a job record made for it (succeeded, cost 0,
never stored), so it takes exactly the shape a computed answer takes, streamed or not; a
job's hit is that record stored, already succeeded. A miss carries the entry's key on its
job, and the worker caches the answer (``tasks.cache.store``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request

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
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id
from tasks.jobs.submission import JobSpec, canonical_webhook, fingerprint

CACHE_HEADER = "x-llm-gateway-cache"
CACHE_TTL_HEADER = "x-llm-gateway-cache-ttl"
CACHE_AGE_HEADER = "x-llm-gateway-cache-age"
_MODE_DESCRIPTION = "response cache: use (read, store on a miss), refresh (store only), off"
_TTL_DESCRIPTION = "seconds a stored answer lives (1 to LLM_GATEWAY_CACHE_MAX_TTL_SECONDS)"

CacheModeHeader = Annotated[str | None, Header(alias=CACHE_HEADER, description=_MODE_DESCRIPTION)]
CacheTtlHeader = Annotated[str | None, Header(alias=CACHE_TTL_HEADER, description=_TTL_DESCRIPTION)]


def _header_parameter(name: str, description: str) -> dict[str, object]:
    """An optional string header as FastAPI documents a ``Header`` parameter."""
    schema = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": description,
        "title": name.title(),
    }
    return {
        "description": description,
        "in": "header",
        "name": name,
        "required": False,
        "schema": schema,
    }


# The hot sync routes (``/v1/chat/completions``) read the two cache headers themselves
# (``cache_headers``) and document them with this (the route's ``openapi_extra``), the same
# document as ``CacheModeHeader``/``CacheTtlHeader`` give: FastAPI's header parameters
# cost ~0.1 ms of the API's CPU a request (docs/benchmarks.md, "The API's CPU per sync
# request").
CACHE_REQUEST_HEADERS_OPENAPI: dict[str, object] = {
    "parameters": [
        _header_parameter(CACHE_HEADER, _MODE_DESCRIPTION),
        _header_parameter(CACHE_TTL_HEADER, _TTL_DESCRIPTION),
    ]
}


def cache_headers(request: Request) -> tuple[str | None, str | None]:
    """The cache mode and TTL headers, as ``CacheModeHeader``/``CacheTtlHeader`` read them
    (the first value of each)."""
    headers = request.headers
    return headers.get(CACHE_HEADER), headers.get(CACHE_TTL_HEADER)


# The answer's headers, as the OpenAPI document declares them on the routes that take the
# cache headers.
CACHE_RESPONSE_HEADERS: dict[str, dict[str, object]] = {
    CACHE_HEADER: {
        "description": "what the response cache did: hit, miss, stored (refresh) or skip "
        "(the request cannot use it); absent when the cache was off",
        "schema": {"type": "string", "enum": ["hit", "miss", "stored", "skip"]},
    },
    CACHE_AGE_HEADER: {
        "description": "on a hit: the cached answer's age in seconds",
        "schema": {"type": "integer", "minimum": 0},
    },
}


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
    """A sync chat request: keyed on the request the endpoint validated and stores."""
    requested = _requested(services, spec, mode_header, ttl_header)
    if requested is None:
        return CacheLookup(spec, None, {})
    if uncacheable(spec.request, spec.session_id, services.tools) is not None:
        return CacheLookup(spec, None, {CACHE_HEADER: "skip"})
    return await _use(services, spec, spec.request, requested, hit_record)


async def look_up_job(
    services: ApiServices,
    spec: JobSpec,
    mode_header: str | None,
    ttl_header: str | None,
    size: int,
) -> CacheLookup:
    """``POST /v1/jobs``: a completion job uses the cache as a chat request does, keyed on
    its request checked and in the form the chat endpoint stores (so the two share
    entries); a hit is a job record already succeeded, never queued (``answered_job``).
    Other kinds of job are not cached (``skip`` when asked)."""
    requested = _requested(services, spec, mode_header, ttl_header)
    if requested is None:
        return CacheLookup(spec, None, {})
    if (
        spec.type is not JobType.COMPLETION
        or uncacheable(spec.request, spec.session_id, services.tools) is not None
    ):
        return CacheLookup(spec, None, {CACHE_HEADER: "skip"})
    submitter = services.submitter
    # The same 4xx as the submission would get; large requests are checked off the loop.
    request = await services.offload.run(size, lambda: submitter.completion_for_cache(spec.request))
    return await _use(services, spec, request, requested, answered_job)


def _requested(
    services: ApiServices, spec: JobSpec, mode_header: str | None, ttl_header: str | None
) -> tuple[CacheMode, int] | None:
    """The mode and TTL the headers (else the tenant's default) ask for; None: off."""
    settings = services.settings
    limits = settings.tenant_limits.get(spec.tenant)
    tenant_ttl = limits.cache_ttl_seconds if limits is not None else None
    mode = requested_mode(mode_header, tenant_ttl)
    if mode is CacheMode.OFF:
        return None
    bounds = CacheSettings(settings.cache_default_ttl_seconds, settings.cache_max_ttl_seconds)
    return mode, ttl_seconds(ttl_header, tenant_ttl, bounds)


async def _use(
    services: ApiServices,
    spec: JobSpec,
    key_request: Mapping[str, Any],
    requested: tuple[CacheMode, int],
    record_of: Callable[[JobSpec, CachedResponse, int], JobRecord],
) -> CacheLookup:
    mode, ttl = requested
    key = cache_key(spec.tenant, key_request)
    planned = dataclasses.replace(spec, cache_key=key, cache_ttl=ttl)
    if mode is CacheMode.REFRESH:
        return CacheLookup(planned, None, {CACHE_HEADER: "stored"})
    cached = await services.cache.lookup(key)
    if cached is None:
        return CacheLookup(planned, None, {CACHE_HEADER: "miss"})
    age = int(cached.age_seconds())
    headers = {CACHE_HEADER: "hit", CACHE_AGE_HEADER: str(age)}
    return CacheLookup(spec, record_of(spec, cached, age), headers)


def hit_record(spec: JobSpec, cached: CachedResponse, age: int) -> JobRecord:
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


def answered_job(spec: JobSpec, cached: CachedResponse, age: int) -> JobRecord:
    """A hit at ``POST /v1/jobs``: ``hit_record`` with what a stored job has besides (its
    webhook, metadata, priority, idempotency key; the fingerprint comes with
    ``stored_fields``) and the entry's age, which marks it a hit (``cache.hit``)."""
    record = hit_record(spec, cached, age)
    record.priority = spec.priority
    record.metadata = spec.metadata
    record.idempotency_key = spec.idempotency_key
    record.webhook = canonical_webhook(spec)
    record.request_id = spec.request_id
    record.cache_age = age
    return record


def stored_fields(record: JobRecord, spec: JobSpec) -> dict[str, str]:
    """A job's hit as its hash stores it, with the submission's fingerprint (what tells an
    idempotent repeat from a conflict): the CPU storing a hit costs, in one piece that can
    run off the event loop."""
    digest = fingerprint(spec)  # also the check that the request can be stored
    # Only an idempotent repeat is compared with it: no key, nothing to keep.
    record.fingerprint = digest if spec.idempotency_key else None
    return record.to_redis()
