"""FastAPI dependencies as ``Annotated`` aliases: the caller's tenant and the services."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.services import ApiServices
from gateway.errors import AuthenticationFailed
from gateway.settings import hash_api_key

# All dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in a thread
# pool, which would cost a thread hop each on every request.


async def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


async def get_tenant(request: Request) -> str:
    """The tenant owning the presented API key; 401 otherwise."""
    return _tenant(request, request.app.state.services)


def _tenant(request: Request, services: ApiServices) -> str:
    # The services are read here, not taken as a dependency: each dependency is a solve of
    # its own on every request (``Caller``).
    settings = services.settings
    if settings.auth_disabled:
        return settings.dev_tenant
    key = _presented_key(request)
    if not key:
        raise AuthenticationFailed(
            "missing API key: send Authorization: Bearer <key>, or X-API-Key: <key>"
        )
    digest = hash_api_key(key)
    for known, tenant in settings.key_hashes.items():
        if hmac.compare_digest(known, digest):
            return tenant
    raise AuthenticationFailed("invalid API key")


Tenant = Annotated[str, Depends(get_tenant)]


async def get_request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


RequestId = Annotated[str | None, Depends(get_request_id)]


async def get_body_size(request: Request) -> int:
    """The body's length in bytes (read once; the route's model was built from it): how
    much work the request can cause, so whether it runs off the event loop (``Offload``)."""
    return len(await request.body())


BodySize = Annotated[int, Depends(get_body_size)]


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a hot synchronous route needs of its request besides the body: the services,
    the caller's tenant (401 without a valid key), the request id and the body's size."""

    services: ApiServices
    tenant: str
    request_id: str | None
    body_size: int


async def get_call_context(request: Request) -> CallContext:
    """``Services``, ``Tenant``, ``RequestId`` and ``BodySize`` in one dependency. FastAPI
    solves each dependency on its own (its parameters, its cache key, its sub-dependencies
    first), 20-40 µs each on this machine; the sync chat route took five such
    solves per request (docs/benchmarks.md, "The API's CPU per sync request")."""
    services: ApiServices = request.app.state.services
    tenant = _tenant(request, services)
    return CallContext(
        services, tenant, await get_request_id(request), await get_body_size(request)
    )


Caller = Annotated[CallContext, Depends(get_call_context)]
