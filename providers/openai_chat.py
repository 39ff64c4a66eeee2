"""The OpenAI chat-completions adapter.

The SDK's own retries are off: retrying is the gateway's job, and a hidden SDK retry would
double-count against the instance's global rate limits.
"""

from __future__ import annotations

from typing import Literal

import openai
import orjson

from gateway.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.config import InstanceConfig
from providers.credentials import Credentials
from providers.openai_format import chat_request_to_openai, chat_response_from_openai
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    AUTH_FAILED,
    PLACEHOLDER_API_KEY,
    parse_retry_after,
    upstream_message,
)


def map_openai_error(exc: openai.OpenAIError, *, provider: str, api_key: str) -> ProviderError:
    """Translate any OpenAI SDK error into the gateway's hierarchy; the one place that does."""
    if not isinstance(exc, openai.APIStatusError):
        match exc:
            case openai.APITimeoutError():
                return ProviderUnavailable("the provider did not answer in time", provider=provider)
            case openai.APIConnectionError():
                return ProviderUnavailable("could not connect to the provider", provider=provider)
            case _:
                failure = f"the provider call failed ({type(exc).__name__})"
                return ProviderError(failure, provider=provider)
    status = exc.status_code
    retry_after = parse_retry_after(exc.response.headers)
    message = upstream_message(exc.body, status, api_key)

    def error(cls: type[ProviderError], text: str) -> ProviderError:
        return cls(text, provider=provider, upstream_status=status, retry_after=retry_after)

    match exc:
        # An exhausted quota is also a 429, but waiting will not help: not retryable.
        case openai.RateLimitError() if exc.code == "insufficient_quota":
            return error(ProviderError, f"the provider account is out of quota: {message}")
        case openai.RateLimitError():
            return error(ProviderRateLimited, f"the provider rate-limited the request: {message}")
        case openai.AuthenticationError() | openai.PermissionDeniedError():
            # The operator's credential, not the caller's request: a 502, never retried.
            return error(ProviderError, AUTH_FAILED)
        # 5xx, 408 and 409 are transient: the SDK's own retry policy retries exactly these.
        case openai.InternalServerError() | openai.ConflictError():
            return error(ProviderUnavailable, f"the provider failed: {message}")
        case _ if status == 408 or status >= 500:
            return error(ProviderUnavailable, f"the provider failed: {message}")
        case _:
            return error(ProviderRejected, message)


class OpenAIChatProvider:
    """OpenAI (or any compatible server) via ``POST {base_url}/chat/completions``.

    Options: ``max_tokens_field`` (``max_completion_tokens``, the default, or ``max_tokens``
    for compatible servers that predate it).
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        self._api_key = credentials.get("api_key") or PLACEHOLDER_API_KEY
        match config.options.get("max_tokens_field", "max_completion_tokens"):
            case "max_completion_tokens" | "max_tokens" as field:
                self._max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = field
            case other:
                expected = "'max_completion_tokens' or 'max_tokens'"
                raise ValueError(
                    f"{config.name}: options.max_tokens_field must be {expected}, not {other!r}"
                )
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=config.timeout_seconds,
        )
        # Resolved once here: the SDK loads these resources lazily, about 35 ms on first use,
        # which would otherwise land on the first call after admission.
        self._create = self._client.chat.completions.with_raw_response.create

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion; every failure is a ``ProviderError``."""
        body = chat_request_to_openai(request, max_tokens_field=self._max_tokens_field)
        try:
            # The raw response skips building the SDK's pydantic models only to dump them
            # again: about a millisecond per call. Errors are raised exactly as before.
            raw = self._create(**body)
            payload = orjson.loads(raw.http_response.content)
        except openai.OpenAIError as exc:
            # "from None": the SDK error holds the request, Authorization header included.
            raise map_openai_error(exc, provider=self.instance, api_key=self._api_key) from None
        except orjson.JSONDecodeError:
            raise ProviderError("the provider sent invalid JSON", provider=self.instance) from None
        try:
            return chat_response_from_openai(payload)
        except ProviderError as exc:
            raise ProviderError(exc.message, provider=self.instance) from None

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.close()
