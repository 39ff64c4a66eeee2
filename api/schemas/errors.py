"""The one error shape: ``{"error": {"type", "message", "param"}}`` (``api.errors``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import ResponseModel


class ErrorBody(ResponseModel):
    """``type`` is machine-readable (``validation_error``, ``not_found``, ``provider_error``
    ...), ``message`` is for people, ``param`` names the offending field when there is one.
    Provider and tool errors add what a caller needs to decide on a retry."""

    type: str = Field(examples=["validation_error"])
    message: str
    param: str | None
    provider: str | None = Field(default=None, description="provider errors only")
    upstream_status: int | None = Field(default=None, description="provider errors only")
    retry_after: float | None = Field(
        default=None, description="seconds; tool errors, and a provider's last 429"
    )


class ErrorResponse(ResponseModel):
    error: ErrorBody


# What each status means on this API; a route lists the ones it can answer with.
_MEANING = {
    400: "Invalid request: malformed JSON, unknown model, a URL that is not allowed...",
    401: "Missing or invalid API key.",
    402: "A tenant budget is spent (type ``budget_exceeded``; ``param`` names it).",
    403: "Access denied: a storage bucket or key prefix the route does not allow.",
    404: "Not found (or another tenant's).",
    409: "Conflict: already ended, cancelled, or an idempotency key reused for another body.",
    413: "Request body too large.",
    422: "The request does not validate; ``param`` names the first offending field.",
    429: "Rate-limited: the tenant's rpm/tpm (type ``rate_limit_exceeded``, with "
    "``retry-after``), or the provider's (after the gateway's retries).",
    500: "The job failed with an internal error.",
    502: "The provider or the tool failed (after the gateway's retries).",
    503: "The job store, a provider or a tool's service is unavailable; try again.",
    504: "The job did not finish in time (its id is in a header: poll it) or a tool timed out.",
}

# Every authenticated route can answer these: no key, Redis down (``api.errors``). A route
# with constrained query parameters adds 422.
AUTHENTICATED = (401, 503)
# ... and every route with a JSON body these: not JSON, over the size limit, not valid.
WITH_BODY = (*AUTHENTICATED, 400, 413, 422)
# Every route that submits work can meet the tenant's limits (``tasks.usage.admission``).
ADMISSION = (402, 429)
# The synchronous routes replay their job's failure with the status its error maps to.
SYNC_JOB = (*WITH_BODY, *ADMISSION, 404, 409, 500, 502, 504)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting ``statuses`` with the error shape. Listing 422
    also replaces FastAPI's ``HTTPValidationError``, which this API never sends."""
    return {
        status: {"model": ErrorResponse, "description": _MEANING[status]}
        for status in sorted(set(statuses))
    }
