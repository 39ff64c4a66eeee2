"""SDK errors -> gateway errors for what the emulator cannot produce, and the shared helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from gateway.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from providers import anthropic_messages, openai_chat
from providers.upstream_errors import parse_retry_after, scrub_secrets, upstream_message

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"retry-after": "2"}, 2.0, id="seconds"),
        pytest.param({"retry-after": "1.5"}, 1.5, id="fractional-seconds"),
        pytest.param({"retry-after-ms": "250"}, 0.25, id="milliseconds"),
        pytest.param({"retry-after-ms": "1500", "retry-after": "9"}, 1.5, id="milliseconds-win"),
        pytest.param({"retry-after-ms": "soon", "retry-after": "3"}, 3.0, id="bad-ms-falls-back"),
        pytest.param({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0, id="http-date"),
        pytest.param({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0, id="past-date-is-zero"),
        pytest.param({"retry-after": "-5"}, 0.0, id="negative-is-zero"),
        pytest.param({"retry-after": "soon"}, None, id="garbage"),
        pytest.param({"retry-after": "inf"}, None, id="infinite"),
        pytest.param({"retry-after": "nan"}, None, id="nan"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_retry_after_is_parsed_from_seconds_milliseconds_or_http_date(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


def test_retry_after_header_lookup_is_case_insensitive_on_sdk_headers() -> None:
    assert parse_retry_after(httpx2.Headers({"Retry-After": "4"})) == 4.0


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        pytest.param(
            "key my-secret-value leaked", "my-secret-value", "key [redacted] leaked", id="exact"
        ),
        pytest.param(
            "Incorrect API key provided: sk-proj-****abcd",
            None,
            "Incorrect API key provided: [redacted]",
            id="masked-openai-key",
        ),
        pytest.param(
            "bad key sk-ant-api03-abcdef123", "other", "bad key [redacted]", id="key-shaped"
        ),
        pytest.param(
            "Invalid value for x", "x", "Invalid value for x", id="tiny-secret-left-alone"
        ),
    ],
)
def test_scrub_secrets_removes_the_key_and_key_shaped_text(
    text: str, secret: str | None, expected: str
) -> None:
    assert scrub_secrets(text, secret) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"message": "bad model", "type": "invalid_request_error"},
            "bad model",
            id="openai-unwrapped",
        ),
        pytest.param({"error": {"message": "bad model"}}, "bad model", id="openai-wrapped"),
        pytest.param(
            {"type": "error", "error": {"type": "x", "message": "bad model"}},
            "bad model",
            id="anthropic",
        ),
        pytest.param(
            "<html>502 Bad Gateway</html>", "the provider answered HTTP 418", id="html-not-shown"
        ),
        pytest.param(
            {"error": {"message": ""}}, "the provider answered HTTP 418", id="empty-message"
        ),
        pytest.param(None, "the provider answered HTTP 418", id="no-body"),
    ],
)
def test_upstream_message_is_the_providers_own_text_or_a_neutral_fallback(
    body: Any, expected: str
) -> None:
    assert upstream_message(body, 418, "sk-secret-123456") == expected


def test_upstream_message_is_truncated() -> None:
    assert len(upstream_message({"message": "x" * 5000}, 400, None)) == 500


def _response(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    request = httpx2.Request("POST", "https://api.example.test/v1/x")
    return httpx2.Response(status, headers=headers or {}, request=request)


def _openai(cls: type[openai.APIStatusError], status: int, **body: Any) -> openai.APIStatusError:
    return cls(f"Error code: {status}", response=_response(status, {"retry-after": "7"}), body=body)


def _anthropic(
    cls: type[anthropic.APIStatusError], status: int, error_type: str
) -> anthropic.APIStatusError:
    body = {"type": "error", "error": {"type": error_type, "message": f"{error_type} happened"}}
    return cls(f"Error code: {status}", response=_response(status, {"retry-after": "7"}), body=body)


REQUEST = httpx2.Request("POST", "https://api.example.test/v1/x")

OPENAI_ERRORS = [
    pytest.param(
        _openai(
            openai.RateLimitError,
            429,
            message="You exceeded your current quota",
            code="insufficient_quota",
        ),
        ProviderError,
        id="insufficient-quota-is-not-retryable",
    ),
    pytest.param(
        _openai(openai.RateLimitError, 429, message="slow down"),
        ProviderRateLimited,
        id="rate-limit",
    ),
    pytest.param(
        _openai(openai.InternalServerError, 503, message="busy"), ProviderUnavailable, id="5xx"
    ),
    pytest.param(
        _openai(openai.ConflictError, 409, message="conflict"), ProviderUnavailable, id="409"
    ),
    pytest.param(_openai(openai.AuthenticationError, 401, message="no"), ProviderError, id="401"),
    pytest.param(_openai(openai.BadRequestError, 400, message="bad"), ProviderRejected, id="400"),
    pytest.param(openai.APITimeoutError(REQUEST), ProviderUnavailable, id="timeout"),
    pytest.param(openai.APIConnectionError(request=REQUEST), ProviderUnavailable, id="connection"),
    pytest.param(
        openai.APIResponseValidationError(_response(200), None),
        ProviderError,
        id="invalid-response",
    ),
]


@pytest.mark.parametrize(("sdk_error", "expected"), OPENAI_ERRORS)
def test_openai_sdk_errors_translate_to_gateway_errors(
    sdk_error: openai.OpenAIError, expected: type[ProviderError]
) -> None:
    error = openai_chat.map_openai_error(sdk_error, provider="oai", api_key="sk-test-123456789")
    assert type(error) is expected
    assert error.provider == "oai"


ANTHROPIC_ERRORS = [
    pytest.param(
        _anthropic(anthropic.EnforcedSpendLimitReachedError, 429, "rate_limit_error"),
        ProviderError,
        id="spend-limit-is-not-retryable",
    ),
    pytest.param(
        _anthropic(anthropic.RateLimitError, 429, "rate_limit_error"),
        ProviderRateLimited,
        id="rate-limit",
    ),
    pytest.param(
        _anthropic(anthropic.OverloadedError, 529, "overloaded_error"),
        ProviderUnavailable,
        id="overloaded-529",
    ),
    pytest.param(
        _anthropic(anthropic.RequestTimeoutError, 408, "timeout_error"),
        ProviderUnavailable,
        id="408",
    ),
    pytest.param(
        _anthropic(anthropic.PermissionDeniedError, 403, "permission_error"),
        ProviderError,
        id="403",
    ),
    pytest.param(
        _anthropic(anthropic.BadRequestError, 400, "invalid_request_error"),
        ProviderRejected,
        id="400",
    ),
    pytest.param(anthropic.APITimeoutError(REQUEST), ProviderUnavailable, id="timeout"),
    pytest.param(
        anthropic.APIConnectionError(request=REQUEST), ProviderUnavailable, id="connection"
    ),
    pytest.param(
        anthropic.APIResponseValidationError(_response(200), None),
        ProviderError,
        id="invalid-response",
    ),
]


@pytest.mark.parametrize(("sdk_error", "expected"), ANTHROPIC_ERRORS)
def test_anthropic_sdk_errors_translate_to_gateway_errors(
    sdk_error: anthropic.AnthropicError, expected: type[ProviderError]
) -> None:
    error = anthropic_messages._map_api_errors(
        sdk_error, provider="claude", api_key="sk-ant-123456789"
    )
    assert type(error) is expected
    assert error.provider == "claude"


@pytest.mark.parametrize(
    "error",
    [
        openai_chat.map_openai_error(
            _openai(openai.InternalServerError, 503, message="x"), provider="p", api_key=""
        ),
        anthropic_messages._map_api_errors(
            _anthropic(anthropic.OverloadedError, 529, "overloaded_error"), provider="p", api_key=""
        ),
    ],
    ids=["openai-503", "anthropic-529"],
)
def test_unavailable_errors_carry_the_retry_after_header_too(error: ProviderError) -> None:
    assert error.retry_after == 7.0
