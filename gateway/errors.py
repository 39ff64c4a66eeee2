"""The gateway's one error hierarchy. Each error knows its HTTP status and public message.

    GatewayError (500 internal_error)
    ├── InvalidRequest (400 invalid_request_error)
    │   ├── UnknownModel (400 model_not_found)
    │   ├── CapabilityMissing (400 unsupported_capability)
    │   ├── UrlNotAllowed (400 url_not_allowed)    SSRF guard: private/loopback/metadata
    │   └── InvalidObjectKey (400 invalid_object_key)   a storage key that is not plain
    ├── RequestValidationFailed (422 validation_error)
    │   └── InvalidToolArguments (422 invalid_tool_arguments)   param = the JSON path
    ├── AuthenticationFailed (401 authentication_error)
    ├── AccessDenied (403 access_denied)            a storage bucket or key prefix refused
    ├── NotFound (404 not_found)
    │   ├── SessionNotFound (404 session_not_found)
    │   ├── ToolNotFound (404 tool_not_found)
    │   ├── StorageRouteNotFound (404 storage_route_not_found)
    │   └── ObjectNotFound (404 object_not_found)   also another tenant's object (never said)
    ├── Conflict (409 conflict)
    ├── PayloadTooLarge (413 payload_too_large)
    ├── BudgetExceeded (402 budget_exceeded)        a tenant's daily/monthly USD budget is spent
    ├── TenantRateLimited (429 rate_limit_exceeded) a tenant's rpm/tpm; carries retry_after
    ├── ServiceUnavailable (503 service_unavailable)
    │   └── StorageUnavailable (503 storage_unavailable)   a store unreachable or failing
    ├── JobTimeout (504 timeout)
    ├── ToolLoopStopped (422)                       a tool loop hit its limit
    │   ├── MaxIterationsReached (422 max_iterations_reached)
    │   └── BudgetExhausted (422 budget_exhausted)
    ├── ProviderError (502 provider_error)           raised by provider adapters
    │   ├── ProviderRateLimited (429 upstream)       retryable, may carry retry_after
    │   ├── ProviderUnavailable (5xx/timeout/conn)   retryable
    │   └── ProviderRejected (upstream 4xx)          the caller's fault: 400, not retryable
    ├── ToolFailed (502 tool_error)                  a tool's service answered with an error
    │   └── ToolUnavailable (503 tool_unavailable)   down, 5xx, circuit open; may carry retry_after
    │       └── ToolTimeout (504 tool_timeout)
    └── StorageFailed (502 storage_error)            a store refused: not the caller's fault

Messages are public: they must never contain credentials or stack traces.
"""

from __future__ import annotations

import math
from typing import Any


class GatewayError(Exception):
    """Base class: every error the gateway reports to a client."""

    status_code: int = 500
    error_type: str = "internal_error"
    default_message: str = "internal error"

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or self.default_message
        self.param = param
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The public error body: ``{"type", "message", "param"}``."""
        return {"type": self.error_type, "message": self.message, "param": self.param}

    def headers(self) -> dict[str, str]:
        """Response headers the error calls for (``retry-after``); none by default."""
        return {}


class InvalidRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    default_message = "invalid request"


class UnknownModel(InvalidRequest):
    error_type = "model_not_found"

    def __init__(self, model: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "(none configured)"
        super().__init__(f"unknown model {model!r}; known models: {listed}", param="model")
        self.known = known


class CapabilityMissing(InvalidRequest):
    error_type = "unsupported_capability"


class UrlNotAllowed(InvalidRequest):
    """An outbound URL (webhook, document) that is malformed or reaches a loopback, private,
    link-local or metadata address that the operator has not allowlisted."""

    error_type = "url_not_allowed"
    default_message = "the URL is not allowed"


class InvalidObjectKey(InvalidRequest):
    """A storage object key (or list prefix) with traversal, empty segments, encoded
    separators, backslashes or control characters: refused, never rewritten."""

    error_type = "invalid_object_key"
    default_message = "invalid object key"

    def __init__(self, message: str | None = None, *, param: str | None = "key") -> None:
        super().__init__(message, param=param)


class RequestValidationFailed(GatewayError):
    status_code = 422
    error_type = "validation_error"
    default_message = "request validation failed"


class AuthenticationFailed(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    default_message = "missing or invalid API key"


class AccessDenied(GatewayError):
    """A storage bucket outside the route's allowed buckets, or a key under a denied prefix."""

    status_code = 403
    error_type = "access_denied"
    default_message = "access denied"


class NotFound(GatewayError):
    status_code = 404
    error_type = "not_found"
    default_message = "not found"


class SessionNotFound(NotFound):
    """A session that does not exist, expired, or belongs to another tenant (never said)."""

    error_type = "session_not_found"
    default_message = "session not found"

    def __init__(self, message: str | None = None, *, param: str | None = "session_id") -> None:
        super().__init__(message, param=param)


class StorageRouteNotFound(NotFound):
    error_type = "storage_route_not_found"
    default_message = "no storage route by that name"

    def __init__(self, message: str | None = None, *, param: str | None = "route") -> None:
        super().__init__(message, param=param)


class ObjectNotFound(NotFound):
    """No such object for this tenant: another tenant's object is not found either."""

    error_type = "object_not_found"
    default_message = "object not found"

    def __init__(self, message: str | None = None, *, param: str | None = "key") -> None:
        super().__init__(message, param=param)


class Conflict(GatewayError):
    status_code = 409
    error_type = "conflict"
    default_message = "conflict"


class PayloadTooLarge(GatewayError):
    status_code = 413
    error_type = "payload_too_large"
    default_message = "request body too large"


class BudgetExceeded(GatewayError):
    """A tenant's budget is spent; ``param`` names it (``daily_budget_usd``, ...)."""

    status_code = 402
    error_type = "budget_exceeded"
    default_message = "the tenant's budget is spent"


class TenantRateLimited(GatewayError):
    """A tenant's ``rpm`` or ``tpm`` (``param``); ``retry_after``: seconds until admitted."""

    status_code = 429
    error_type = "rate_limit_exceeded"
    default_message = "the tenant's rate limit is reached"

    def __init__(self, message: str, *, param: str, retry_after: float) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, math.ceil(self.retry_after)))}


class ServiceUnavailable(GatewayError):
    status_code = 503
    error_type = "service_unavailable"
    default_message = "service temporarily unavailable"


class NotReplicated(ServiceUnavailable):
    """A submit stored on the Redis master whose replicas did not confirm it in time
    (``REDIS_WAIT_REPLICAS``): not durable across a failover, so not a 202. The job may
    still run; a retry with the same ``Idempotency-Key`` returns it rather than a copy."""

    default_message = "the job store has not replicated the job yet; retry"


class StorageUnavailable(ServiceUnavailable):
    """A store could not be reached, timed out, or answered 5xx; retrying later may work."""

    error_type = "storage_unavailable"
    default_message = "the object store is unavailable"


class JobTimeout(GatewayError):
    status_code = 504
    error_type = "timeout"
    default_message = "the job did not finish in time"


class ToolLoopStopped(GatewayError):
    """A completion's tool loop hit one of its limits; what was spent stays on the record."""

    status_code = 422
    error_type = "tool_loop_stopped"
    default_message = "the tool loop stopped at a limit"


class MaxIterationsReached(ToolLoopStopped):
    error_type = "max_iterations_reached"


class BudgetExhausted(ToolLoopStopped):
    error_type = "budget_exhausted"


class ProviderError(GatewayError):
    """An upstream provider call failed. ``retryable`` tells the worker whether to try again."""

    status_code = 502
    error_type = "provider_error"
    default_message = "the provider call failed"
    retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str = "",
        upstream_status: int | None = None,
        retry_after: float | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["provider"] = self.provider or None
        body["upstream_status"] = self.upstream_status
        return body


class ProviderRateLimited(ProviderError):
    status_code = 429
    error_type = "provider_rate_limited"
    default_message = "the provider rate-limited the request"
    retryable = True


class ProviderUnavailable(ProviderError):
    error_type = "provider_unavailable"
    default_message = "the provider is unavailable"
    retryable = True


class StreamInterrupted(ProviderError):
    """A provider failed after part of its answer had been streamed to the client: retrying
    would send the client a second, different beginning, so the job fails instead."""

    error_type = "stream_interrupted"
    default_message = "the provider failed in the middle of a streamed answer"
    retryable = False


class ProviderRejected(ProviderError):
    status_code = 400
    error_type = "provider_rejected"
    default_message = "the provider rejected the request"


class ToolNotFound(NotFound):
    error_type = "tool_not_found"


class InvalidToolArguments(RequestValidationFailed):
    """A tool call's arguments do not match its JSON Schema; ``param`` is the JSON path."""

    error_type = "invalid_tool_arguments"
    default_message = "invalid tool arguments"


class ToolFailed(GatewayError):
    """A tool ran and failed: its service answered with an error (carried in the message)."""

    status_code = 502
    error_type = "tool_error"
    default_message = "the tool failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


class ToolUnavailable(ToolFailed):
    """The tool's service is down, kept failing after retries, or its circuit is open."""

    status_code = 503
    error_type = "tool_unavailable"
    default_message = "the tool's service is unavailable"


class ToolTimeout(ToolUnavailable):
    status_code = 504
    error_type = "tool_timeout"
    default_message = "the tool did not finish in time"


class StorageFailed(GatewayError):
    """A store refused an operation for a reason that is not the caller's: the gateway's
    credentials lack a permission, the bucket does not exist, a signature was rejected."""

    status_code = 502
    error_type = "storage_error"
    default_message = "the object store refused the operation"


class DocumentUnavailable(GatewayError):
    """A document to enhance could not be fetched or read (too large, not text, 404...)."""

    status_code = 422
    error_type = "document_unavailable"
    default_message = "the document could not be fetched"


ERROR_TYPES: dict[str, type[GatewayError]] = {
    cls.error_type: cls
    for cls in (
        GatewayError,
        InvalidRequest,
        UnknownModel,
        CapabilityMissing,
        UrlNotAllowed,
        RequestValidationFailed,
        AuthenticationFailed,
        NotFound,
        SessionNotFound,
        Conflict,
        PayloadTooLarge,
        BudgetExceeded,
        TenantRateLimited,
        ServiceUnavailable,
        JobTimeout,
        ProviderError,
        ProviderRateLimited,
        ProviderUnavailable,
        ProviderRejected,
        ToolNotFound,
        InvalidToolArguments,
        ToolFailed,
        ToolUnavailable,
        ToolTimeout,
        ToolLoopStopped,
        MaxIterationsReached,
        BudgetExhausted,
        DocumentUnavailable,
        InvalidObjectKey,
        AccessDenied,
        StorageRouteNotFound,
        ObjectNotFound,
        StorageUnavailable,
        StorageFailed,
    )
}


def field_path(*parts: object) -> str:
    """A ``param``: where a field sits in a body, e.g. ``request.messages[3].content``.
    Integers are list positions; anything else is an object key (``logit_bias.50256``)."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif part != "":
            out += f".{part}" if out else str(part)
    return out


def status_for_error_type(error_type: str) -> int:
    """HTTP status for a stored error ``type`` (a job's error, replayed by the sync endpoint)."""
    cls = ERROR_TYPES.get(error_type)
    return cls.status_code if cls else 500
