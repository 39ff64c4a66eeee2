"""``/v1/sessions``: create, read, delete conversation sessions and merge into their context."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.body_route import BodyRoute
from api.deps import BodySize, Services, Tenant
from api.responses import FastJSONResponse
from api.schemas import Session, SessionCreate, SessionUpdate, error_responses
from api.schemas.errors import AUTHENTICATED, WITH_BODY
from gateway.errors import RequestValidationFailed
from gateway.settings import Settings
from providers.openai_format import chat_request_from_openai, message_to_openai
from tasks.jobs.record import storable_json
from tasks.kinds.request_limits import RequestLimits

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], route_class=BodyRoute)


def _initial_history(
    body: SessionCreate, settings: Settings, limits: RequestLimits
) -> list[dict[str, Any]]:
    """The messages as stored: counted and measured like a chat request's (at most
    ``SESSION_MAX_MESSAGES``), parsed by the chat-request parser (a bad one is a 400 naming
    it, e.g. ``messages[2].tool_call_id``) and written back in canonical OpenAI form."""
    fields = (body.system, body.context, body.metadata, body.messages)
    for param, value in zip(("system", "context", "metadata", "messages"), fields, strict=True):
        storable_json(value, param)
    limits.check_messages(body.messages, "messages", max_messages=settings.session_max_messages)
    if not body.messages:
        return []
    parsed = chat_request_from_openai({"model": "x", "messages": body.messages})
    return [message_to_openai(m) for m in parsed.messages]


# Sessions are sent as ``Session.public`` builds them; the models document them.


@router.post("", status_code=201, response_model=Session, responses=error_responses(*WITH_BODY))
async def create_session(
    body: SessionCreate, tenant: Tenant, services: Services, size: BodySize
) -> FastJSONResponse:
    settings = services.settings
    ttl = body.ttl_seconds if body.ttl_seconds is not None else settings.session_ttl_seconds
    if ttl > settings.session_max_ttl_seconds:
        raise RequestValidationFailed(
            f"ttl_seconds: must be at most {settings.session_max_ttl_seconds}",
            param="ttl_seconds",
        )
    history = await services.offload.run(
        size, lambda: _initial_history(body, settings, services.request_limits)
    )
    session = await services.sessions.create(
        tenant,
        ttl_seconds=ttl,
        system=body.system,
        context=body.context,
        context_budget_tokens=body.context_budget_tokens or settings.session_context_budget_tokens,
        metadata=dict(body.metadata),
        messages=history,
    )
    return FastJSONResponse(
        session.public(), status_code=201, headers={"Location": f"/v1/sessions/{session.id}"}
    )


@router.get("/{session_id}", response_model=Session, responses=error_responses(*AUTHENTICATED, 404))
async def get_session(session_id: str, tenant: Tenant, services: Services) -> FastJSONResponse:
    session = await services.sessions.get(session_id, tenant)
    return FastJSONResponse(session.public())


@router.patch("/{session_id}", response_model=Session, responses=error_responses(*WITH_BODY, 404))
async def update_session(
    session_id: str, body: SessionUpdate, tenant: Tenant, services: Services
) -> FastJSONResponse:
    storable_json(body.context, "context")
    session = await services.sessions.update_context(session_id, tenant, body.context)
    return FastJSONResponse(session.public())


@router.delete(
    "/{session_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTHENTICATED, 404),
)
async def delete_session(session_id: str, tenant: Tenant, services: Services) -> Response:
    await services.sessions.delete(session_id, tenant)
    return Response(status_code=204)
