"""``DownstreamClient``: HTTP calls from tools to downstream services, with retries, one
overall deadline per call, a per-service circuit breaker, and every failure translated into
the gateway's tool errors (callers never see an httpx type).

One client per process: an ``httpx.Client`` is thread-safe and pools connections, so the
worker's threads share it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from gateway.errors import ToolFailed, ToolTimeout, ToolUnavailable
from tools.circuit import ServiceCircuit

log = structlog.get_logger(__name__)

# Backoff between attempts doubles from the configured base up to this.
BACKOFF_CAP_SECONDS = 2.0
# A Retry-After longer than this is not waited for: the call fails with it as retry_after.
RETRY_AFTER_MAX_SECONDS = 5.0
# Connecting is quick or not happening; the rest of the budget is for the answer.
CONNECT_TIMEOUT_SECONDS = 5.0
# Downstream messages are passed on, within reason.
MAX_MESSAGE_CHARS = 500
# The probe's lease outlives its call: the client gives up at the deadline, this is slack.
PROBE_LEASE_MARGIN_SECONDS = 5.0


class DownstreamClient:
    """Calls services by name (for errors and the circuit) and URL."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 30.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.2,
        circuit: ServiceCircuit | None = None,
        max_connections: int = 100,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.circuit = circuit
        self._http = httpx.Client(
            timeout=timeout_seconds,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            headers={"user-agent": "llm-gateway-tools"},
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        service: str,
        method: str,
        url: str,
        *,
        json: object = None,
        params: Mapping[str, str] | None = None,
        timeout_seconds: float | None = None,
    ) -> Any:
        """The decoded answer (JSON, else text) of ``method url``, retried on transient
        failures within ``timeout_seconds`` overall. Raises ``ToolFailed`` (the service
        refused: its message), ``ToolUnavailable`` or ``ToolTimeout``."""
        budget = self.timeout_seconds if timeout_seconds is None else timeout_seconds

        def attempts() -> Any:
            return self._with_retries(service, method, url, json, params, budget)

        if self.circuit is None:
            return attempts()
        lease = budget + PROBE_LEASE_MARGIN_SECONDS
        return self.circuit.call(service, attempts, probe_lease_seconds=lease)

    def _with_retries(
        self,
        service: str,
        method: str,
        url: str,
        json: object,
        params: Mapping[str, str] | None,
        budget: float,
    ) -> Any:
        deadline = time.monotonic() + budget

        def give_up(state: RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            exc = state.outcome.exception() if state.outcome else None
            hinted = exc.retry_after if isinstance(exc, ToolUnavailable) else None
            if hinted is not None and hinted > RETRY_AFTER_MAX_SECONDS:
                return True
            return time.monotonic() + state.upcoming_sleep >= deadline

        def backoff(state: RetryCallState) -> float:
            wait = min(
                self.backoff_seconds * 2.0 ** (state.attempt_number - 1), BACKOFF_CAP_SECONDS
            )
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, ToolUnavailable) and exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            return wait

        retrying = Retrying(
            stop=give_up,
            wait=backoff,
            retry=retry_if_exception_type(ToolUnavailable),
            before_sleep=lambda state: log.info(
                "tool_http_retry",
                service=service,
                attempt=state.attempt_number,
                error=_error_type(state),
            ),
            reraise=True,
        )
        return retrying(self._attempt, service, method, url, json, params, deadline, budget)

    def _attempt(
        self,
        service: str,
        method: str,
        url: str,
        json: object,
        params: Mapping[str, str] | None,
        deadline: float,
        budget: float,
    ) -> Any:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ToolTimeout(f"{service} did not answer within {budget:g}s")
        timeout = httpx.Timeout(left, connect=min(left, CONNECT_TIMEOUT_SECONDS))
        try:
            response = self._http.request(method, url, json=json, params=params, timeout=timeout)
        except httpx.TimeoutException:
            raise ToolTimeout(f"{service} did not answer within {budget:g}s") from None
        except httpx.ConnectError:
            raise ToolUnavailable(f"{service} is unreachable") from None
        except httpx.HTTPError as exc:
            raise ToolUnavailable(f"{service}: {type(exc).__name__} during the call") from None
        except httpx.InvalidURL:
            raise ToolFailed(f"{service}: the request URL is invalid") from None
        return _decode(service, response)


def _decode(service: str, response: httpx.Response) -> Any:
    status = response.status_code
    if 200 <= status < 300:
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return response.text
    message = f"{service} answered {status}: {_message(response)}"
    if status == 429 or status >= 500:
        raise ToolUnavailable(message, retry_after=_retry_after(response))
    raise ToolFailed(message)


def _message(response: httpx.Response) -> str:
    """The service's own error message if its JSON body has one, else the status line."""
    text = ""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        for candidate in (
            error.get("message") if isinstance(error, dict) else error,
            body.get("detail"),
            body.get("message"),
        ):
            if isinstance(candidate, str) and candidate:
                text = candidate
                break
            if candidate:
                text = orjson.dumps(candidate).decode()
                break
    if not text:
        text = f"{response.status_code} {response.reason_phrase}".strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_type(state: RetryCallState) -> str | None:
    exc = state.outcome.exception() if state.outcome else None
    return exc.error_type if isinstance(exc, ToolFailed) else None
