"""Azure OpenAI chat completions: ``POST /openai/deployments/{deployment}/chat/completions``.

The wire format is OpenAI's (see :mod:`emulator.protocols.openai_chat`); what differs is the
envelope. The deployment in the path names the model (``turn.model``; the body's ``model``
is ignored, as Azure does), the ``api-version`` query parameter is required (Azure answers
a bare 404 "Resource not found" without it), and credentials are an ``api-key`` header or
an Entra ID ``Authorization: Bearer`` token. Point the official SDK at it with
``AzureOpenAI(azure_endpoint="http://host:port", api_version="2024-10-21", api_key="x")``.

``GET /msi/token`` emulates the App Service managed-identity endpoint, so azure-identity's
default chain can get a token here (``IDENTITY_ENDPOINT=http://host:port/msi/token``, any
``IDENTITY_HEADER``).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.behaviour import Decision, Turn
from emulator.protocols.base import RequestError, sse
from emulator.protocols.openai_chat import OpenAIChat
from emulator.responses import JSONResponse

#: The App Service managed-identity token endpoint (``IDENTITY_ENDPOINT``).
MANAGED_IDENTITY_PATH = "/msi/token"

# Azure's own gateway answers these with a bare {"code", "message"}; the model service
# answers the rest (400s, 500s) in OpenAI's shape.
_GATEWAY_STATUSES = frozenset({401, 403, 404, 408, 429})
# What a completion passed through Azure's content filters carries.
_NOT_FILTERED = {
    category: {"filtered": False, "severity": "safe"}
    for category in ("hate", "self_harm", "sexual", "violence")
}


class AzureOpenAIChat(OpenAIChat):
    """Azure OpenAI's deployment-scoped chat completions."""

    name: ClassVar[str] = "azure_openai"
    path: ClassVar[str] = "/openai/deployments/{deployment}/chat/completions"
    missing_key_message: ClassVar[str] = (
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API "
        "endpoint for your resource. (emulated)"
    )

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """An ``api-key`` header or a bearer token (``x-api-key`` is not Azure's)."""
        return _scheme(headers) is not None

    def recorded_auth(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """Which scheme authenticated: ``{"scheme": "api-key" | "bearer"}``."""
        scheme = _scheme(headers)
        return None if scheme is None else {"scheme": scheme}

    def check_query(self, query: Mapping[str, str]) -> None:
        """``api-version`` is required; Azure's answer without it is a 404."""
        if not query.get("api-version"):
            raise RequestError("Resource not found", status=404)

    def response_headers(self, status: int) -> dict[str, str]:
        """The request id and region headers Azure adds to every answer."""
        return {"apim-request-id": str(uuid.uuid4()), "x-ms-region": "Emulated Region"}

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """OpenAI's validation, with the deployment from the path as the model."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        return super().parse({**body, "model": path_params["deployment"]}, path_params)

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """A ``chat.completion`` with Azure's content-filter annotations."""
        completion = super().render(decision, turn)
        completion["prompt_filter_results"] = [
            {"prompt_index": 0, "content_filter_results": _NOT_FILTERED}
        ]
        for choice in completion["choices"]:
            choice["content_filter_results"] = _NOT_FILTERED
        return completion

    def stream_preamble(self, base: dict[str, Any]) -> list[bytes]:
        """Azure's first event: the prompt's filter results, in a chunk without choices,
        id or model (clients that expect ``choices[0]`` in every chunk break on it)."""
        filtered = [{"prompt_index": 0, "content_filter_results": _NOT_FILTERED}]
        empty = {"choices": [], "created": 0, "id": "", "model": "", "object": ""}
        return [sse({**empty, "prompt_filter_results": filtered})]

    def stream_chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """Each choice carries its content filter results, as Azure's chunks do."""
        choices = [{**choice, "content_filter_results": {}} for choice in chunk["choices"]]
        return {**chunk, "choices": choices}

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"error": {"code": "<status>", "message"}}`` from Azure's gateway (auth, routing,
        rate limits), OpenAI's error shape otherwise."""
        if status in _GATEWAY_STATUSES:
            return {"error": {"code": str(status), "message": message}}
        return super().render_error(status, message, param)

    def extra_routes(self) -> Sequence[BaseRoute]:
        """The managed-identity token endpoint (OpenAI's ``/v1/models`` is not Azure's)."""
        return [Route(MANAGED_IDENTITY_PATH, _managed_identity_token, methods=["GET"])]


def _scheme(headers: Mapping[str, str]) -> str | None:
    if headers.get("api-key", "").strip():
        return "api-key"
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer ") and authorization[7:].strip():
        return "bearer"
    return None


async def _managed_identity_token(request: Request) -> Response:
    """App Service's token response (api-version 2019-08-01): ``expires_on`` in epoch
    seconds, as a string."""
    resource = request.query_params.get("resource")
    if not request.headers.get("x-identity-header") or not resource:
        error = {"statusCode": 400, "message": "X-IDENTITY-HEADER and resource are required"}
        return JSONResponse(error, status_code=400)
    return JSONResponse(
        {
            "access_token": "emulated-entra-token-" + secrets.token_hex(8),
            "expires_on": str(int(time.time()) + 3600),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": "00000000-0000-0000-0000-000000000000",
        }
    )
