"""Errors on ``/v1/messages*`` in Anthropic's shape: ``{"type": "error", "error": {"type",
"message"}}``, so Anthropic's SDKs raise their own exception classes.

The status stays the gateway's, except where Anthropic's API answers differently: an
unknown model is a 404 (``not_found_error``), and a request that does not validate a 400
(Anthropic has no 422). Anthropic's body has no ``param``: a message that does not name
its field gets it as a prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from api.responses import FastJSONResponse, retry_after_header

PATH = "/v1/messages"

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# Gateway error types whose status Anthropic's API answers differently.
_STATUS_OF_TYPE = {"model_not_found": 404}


def is_messages_path(path: str) -> bool:
    return path == PATH or path.startswith(PATH + "/")


# The labels pydantic puts in an error's location for the member of a union it tried.
_UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "none"})


def most_specific(errors: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The validation error that got furthest into the body, its location without union
    member labels: a content block that does not validate is named as a block
    (``messages[0].content[0].text.citations``), not as "content is not a string"."""
    deepest = max(errors, key=lambda e: len(e.get("loc", ())))
    loc = tuple(
        part
        for part in deepest.get("loc", ())
        if not (isinstance(part, str) and ("[" in part or part in _UNION_MEMBERS))
    )
    return {**deepest, "loc": loc}


def anthropic_status(status: int, gateway_type: str) -> int:
    status = _STATUS_OF_TYPE.get(gateway_type, status)
    return 400 if status == 422 else status


def anthropic_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """The error body for ``status`` (already ``anthropic_status``'s)."""
    if param and param not in message:
        message = f"{param}: {message}"
    error_type = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": error_type, "message": message}}


def anthropic_error(
    status: int,
    gateway_type: str,
    message: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: object = None,
) -> FastJSONResponse:
    """A gateway error (its status and type) answered in Anthropic's shape; a 429 carries
    ``retry-after`` when the provider said how long to wait."""
    status = anthropic_status(status, gateway_type)
    out = {**(headers or {}), **retry_after_header(retry_after)}
    return FastJSONResponse(anthropic_body(status, message, param), status, out or None)
