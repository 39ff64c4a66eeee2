"""Every error leaves the API in one shape: ``{"error": {"type", "message", "param"}}``,
except on Anthropic's Messages API (``/v1/messages*``), whose errors take Anthropic's shape
(``api.anthropic.errors``) so its SDKs raise their own exceptions."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.anthropic.errors import anthropic_error, is_messages_path, most_specific
from api.responses import FastJSONResponse
from gateway.errors import GatewayError, field_path

log = structlog.get_logger(__name__)

_HTTP_TYPES = {
    400: "invalid_request_error",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    error_type: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> FastJSONResponse:
    body = {"error": {"type": error_type, "message": message, "param": param}}
    return FastJSONResponse(body, status_code=status, headers=headers)


def _answer(
    request: Request,
    status: int,
    error_type: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> FastJSONResponse:
    """``error_response``, or Anthropic's shape on the Messages API's paths."""
    if is_messages_path(request.url.path):
        return anthropic_error(status, error_type, message, param, headers)
    return error_response(status, error_type, message, param, headers)


def _loc_to_param(loc: tuple[Any, ...]) -> str | None:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    return field_path(*parts) or None


async def _gateway_error(request: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, GatewayError)
    return gateway_error_response(request.url.path, exc)


def gateway_error_response(path: str, exc: GatewayError) -> FastJSONResponse:
    """The answer to ``exc`` on ``path``, for errors raised outside the app's handlers."""
    headers = exc.headers() or None
    if is_messages_path(path):
        return anthropic_error(exc.status_code, exc.error_type, exc.message, exc.param, headers)
    body = exc.to_dict()
    return FastJSONResponse({"error": body}, status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if errors and is_messages_path(request.url.path):
        first = most_specific(errors)
    if first.get("type") == "json_invalid":
        return _answer(request, 400, "invalid_request_error", "request body is not valid JSON")
    param = _loc_to_param(tuple(first.get("loc", ())))
    problem = first.get("msg")
    if first.get("type") == "extra_forbidden":
        # The field exists somewhere (OpenAI's API, Anthropic's) but not here: say so.
        problem = "not supported by the gateway (unknown fields are refused, not dropped)"
    elif first.get("type") == "none_required":
        problem = "not supported by the gateway (only null is accepted)"
    message = f"{param}: {problem}" if param else str(problem)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return _answer(request, 422, "validation_error", message, param)


async def _http_error(request: Request, exc: Exception) -> FastJSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI answers any error while reading the body with a bare 400 raised from it: the
    # size limit's 413 (``api.middleware``) and the body parser's errors (``api.body_route``)
    # keep their own status and message.
    cause = exc.__cause__
    if isinstance(cause, GatewayError):
        return await _gateway_error(request, cause)
    if isinstance(cause, RequestValidationError):
        return await _validation_error(request, cause)
    error_type = _HTTP_TYPES.get(exc.status_code, "http_error")
    return _answer(
        request,
        exc.status_code,
        error_type,
        str(exc.detail),
        headers=getattr(exc, "headers", None),
    )


async def _redis_down(request: Request, exc: Exception) -> FastJSONResponse:
    log.error("redis_unavailable", error=type(exc).__name__)
    message = "the job store is unavailable; try again"
    return _answer(request, 503, "service_unavailable", message)


async def _unexpected(request: Request, exc: Exception) -> FastJSONResponse:
    log.exception("unhandled_error", error=type(exc).__name__)
    return _answer(request, 500, "internal_error", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RedisError, _redis_down)
    app.add_exception_handler(Exception, _unexpected)
