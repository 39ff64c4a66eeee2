"""Upstream failures -> gateway errors: the one status ladder, each vendor's own cases that
the emulator cannot produce, and the shared helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anthropic
import botocore.exceptions
import httpx
import httpx2
import oci
import openai
import orjson
import pytest
from azure.core.exceptions import AzureError, ClientAuthenticationError

from gateway.credentials import NO_CREDENTIALS
from gateway.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from providers import (
    anthropic_messages,
    azure_openai,
    bedrock_converse,
    oci_chat,
    ollama_chat,
    openai_chat,
    openai_wire,
    vertex_gemini,
    watsonx_chat,
)
from providers.upstream_errors import (
    AUTH_FAILED,
    error_for_status,
    parse_retry_after,
    scrub_secrets,
    upstream_message,
)

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)

# (upstream status, gateway error class, public message): the ladder every adapter shares.
LADDER = [
    pytest.param(429, ProviderRateLimited, "the provider rate-limited the request: m", id="429"),
    pytest.param(401, ProviderError, AUTH_FAILED, id="401-auth"),
    pytest.param(403, ProviderError, AUTH_FAILED, id="403-auth"),
    pytest.param(408, ProviderUnavailable, "the provider failed: m", id="408-timeout"),
    pytest.param(409, ProviderUnavailable, "the provider failed: m", id="409-conflict"),
    pytest.param(499, ProviderUnavailable, "the provider failed: m", id="499-closed"),
    pytest.param(500, ProviderUnavailable, "the provider failed: m", id="500"),
    pytest.param(502, ProviderUnavailable, "the provider failed: m", id="502"),
    pytest.param(503, ProviderUnavailable, "the provider failed: m", id="503"),
    pytest.param(504, ProviderUnavailable, "the provider failed: m", id="504"),
    pytest.param(529, ProviderUnavailable, "the provider failed: m", id="529-overloaded"),
    pytest.param(400, ProviderRejected, "m", id="400"),
    pytest.param(404, ProviderRejected, "m", id="404"),
    pytest.param(413, ProviderRejected, "m", id="413"),
    pytest.param(422, ProviderRejected, "m", id="422"),
    pytest.param(
        302, ProviderError, "the provider answered HTTP 302 unexpectedly: m", id="302-redirect"
    ),
]


@pytest.mark.parametrize(("status", "expected", "message"), LADDER)
def test_the_status_ladder_maps_every_status_class_and_carries_retry_after(
    status: int, expected: type[ProviderError], message: str
) -> None:
    error = error_for_status(status, "m", provider="p", retry_after=3.0)
    assert type(error) is expected
    assert (error.message, error.provider, error.upstream_status) == (message, "p", status)
    assert error.retry_after == 3.0
    # Only what waiting can fix is retried; a rejection is the caller's 400, the rest a 502.
    assert error.retryable is (expected in (ProviderRateLimited, ProviderUnavailable))
    assert error.status_code == {ProviderRateLimited: 429, ProviderRejected: 400}.get(expected, 502)


def _http(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://api.example.test/v1/x")
    return httpx.Response(status, content=orjson.dumps(body), headers=headers, request=request)


@pytest.mark.parametrize("status", [409, 499])
def test_every_adapter_retries_the_edge_statuses_the_same_way(status: int) -> None:
    # Before the shared ladder, Bedrock, Ollama and watsonx rejected these.
    aws = {
        "Error": {"Code": "SomethingNew", "Message": "later"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    errors = [
        bedrock_converse.map_bedrock_error(
            botocore.exceptions.ClientError(aws, "Converse"),
            provider="p",
            credentials=NO_CREDENTIALS,
        ),
        ollama_chat.map_ollama_error(_http(status, {"error": "later"}), provider="p"),
        watsonx_chat.map_watsonx_error(
            _http(status, {"errors": [{"code": "x", "message": "later"}]}),
            provider="p",
            credentials=NO_CREDENTIALS,
        ),
        vertex_gemini.map_vertex_error(
            _http(status, {"error": {"message": "later"}}), provider="p", scrub=str
        ),
    ]
    assert [type(e) for e in errors] == [ProviderUnavailable] * 4
    assert {e.upstream_status for e in errors} == {status}


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
    error = anthropic_messages.map_anthropic_error(
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
        anthropic_messages.map_anthropic_error(
            _anthropic(anthropic.OverloadedError, 529, "overloaded_error"), provider="p", api_key=""
        ),
    ],
    ids=["openai-503", "anthropic-529"],
)
def test_unavailable_errors_carry_the_retry_after_header_too(error: ProviderError) -> None:
    assert error.retry_after == 7.0


# --- each vendor's own cases -----------------------------------------------------------------


def test_vertex_transient_rpc_code_is_retried_whatever_the_status() -> None:
    body = {"error": {"code": 400, "status": "ABORTED", "message": "try again"}}
    error = vertex_gemini.map_vertex_error(_http(400, body), provider="p", scrub=str)
    assert type(error) is ProviderUnavailable
    assert error.message == "the provider failed: try again"


def test_vertex_retry_info_stands_in_for_a_missing_retry_after_header() -> None:
    detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.5s"}
    body = {"error": {"status": "RESOURCE_EXHAUSTED", "message": "quota", "details": [detail]}}
    error = vertex_gemini.map_vertex_error(_http(429, body), provider="p", scrub=str)
    assert (type(error), error.retry_after) == (ProviderRateLimited, 12.5)
    with_header = _http(429, body, {"retry-after": "3"})
    assert vertex_gemini.map_vertex_error(with_header, provider="p", scrub=str).retry_after == 3


@pytest.mark.parametrize(
    ("exc", "expected", "message"),
    [
        pytest.param(
            ClientAuthenticationError("no identity for sk-proj-abcdefgh"),
            ProviderError,
            AUTH_FAILED,
            id="identity-refused",
        ),
        pytest.param(
            AzureError("login.microsoftonline.com unreachable"),
            ProviderUnavailable,
            "could not obtain an Entra ID token for the provider",
            id="entra-unreachable",
        ),
        pytest.param(
            openai.APIConnectionError(request=REQUEST),
            ProviderUnavailable,
            "could not connect to the provider",
            id="openai-error",
        ),
    ],
)
def test_azure_identity_failures_are_the_operators_or_transient(
    exc: Exception, expected: type[ProviderError], message: str
) -> None:
    assert isinstance(exc, openai.OpenAIError | AzureError)
    error = azure_openai.map_azure_error(exc, provider="p", secret="s")
    assert (type(error), error.message, error.provider) == (expected, message, "p")


def test_watsonx_token_quota_is_not_retried_although_it_is_a_429() -> None:
    body = {"errors": [{"code": "token_quota_reached", "message": "monthly quota used"}]}
    error = watsonx_chat.map_watsonx_error(
        _http(429, body, {"retry-after": "5"}), provider="p", credentials=NO_CREDENTIALS
    )
    assert type(error) is ProviderError and not error.retryable
    assert error.message == "the provider account is out of quota: monthly quota used"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("IncorrectState", ProviderUnavailable, id="incorrect-state-is-transient"),
        pytest.param(
            "NotAuthorizedOrResourceAlreadyExists", ProviderRejected, id="other-409-is-not"
        ),
    ],
)
def test_oci_retries_only_the_409_its_sdk_retries(code: str, expected: type[ProviderError]) -> None:
    exc = oci.exceptions.ServiceError(409, code, {"retry-after": "2"}, "conflict")
    error = oci_chat.map_oci_error(exc, provider="p", credentials=NO_CREDENTIALS)
    assert (type(error), error.upstream_status, error.retry_after) == (expected, 409, 2.0)


@pytest.mark.parametrize(
    "error",
    [
        openai_chat.map_openai_error(openai.OpenAIError("x"), provider="p", api_key=""),
        anthropic_messages.map_anthropic_error(
            anthropic.AnthropicError("x"), provider="p", api_key=""
        ),
        bedrock_converse.map_bedrock_error(
            botocore.exceptions.BotoCoreError(), provider="p", credentials=NO_CREDENTIALS
        ),
        vertex_gemini.map_vertex_error(ValueError("secret"), provider="p", scrub=str),
        ollama_chat.map_ollama_error(httpx.DecodingError("secret"), provider="p"),
        oci_chat.map_oci_error(ValueError("secret"), provider="p", credentials=NO_CREDENTIALS),
    ],
    ids=["openai", "anthropic", "bedrock", "vertex", "ollama", "oci"],
)
def test_unknown_sdk_failures_become_provider_errors_naming_only_the_type(
    error: ProviderError,
) -> None:
    assert type(error) is ProviderError and not error.retryable
    assert error.message.startswith("the provider call failed (")
    assert "secret" not in error.message


# --- error replies of the chat calls sent without an SDK (providers/json_wire.py) ----------

SECRET = "sk-wire-123456789"


def _reply(body: object) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)


def _anthropic_body(error_type: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        error["details"] = {"error_code": code}
    return {"type": "error", "error": error}


@pytest.mark.parametrize(
    ("translate", "status", "body", "expected", "message"),
    [
        pytest.param(
            openai_wire.openai_status_error,
            429,
            {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}},
            ProviderError,
            "out of quota",
            id="openai-insufficient-quota-is-not-retryable",
        ),
        pytest.param(
            openai_wire.openai_status_error,
            429,
            {"error": {"message": f"slow down, {SECRET}"}},
            ProviderRateLimited,
            "slow down",
            id="openai-rate-limit",
        ),
        pytest.param(
            openai_wire.openai_status_error,
            502,
            b"<html>bad gateway</html>",
            ProviderUnavailable,
            "HTTP 502",
            id="openai-html-page",
        ),
        pytest.param(
            anthropic_messages.anthropic_status_error,
            429,
            _anthropic_body("rate_limit_error", "spent", "enforced_spend_limit_reached"),
            ProviderError,
            "spend limit",
            id="anthropic-spend-limit-is-not-retryable",
        ),
        pytest.param(
            anthropic_messages.anthropic_status_error,
            429,
            _anthropic_body("rate_limit_error", f"slow down, {SECRET}"),
            ProviderRateLimited,
            "slow down",
            id="anthropic-rate-limit",
        ),
        pytest.param(
            anthropic_messages.anthropic_status_error,
            529,
            _anthropic_body("overloaded_error", "overloaded"),
            ProviderUnavailable,
            "overloaded",
            id="anthropic-529",
        ),
        pytest.param(
            anthropic_messages.anthropic_status_error,
            400,
            _anthropic_body("invalid_request_error", "bad"),
            ProviderRejected,
            "bad",
            id="anthropic-400",
        ),
    ],
)
def test_wire_error_replies_translate_as_the_sdks_did(
    translate: Any, status: int, body: object, expected: type[ProviderError], message: str
) -> None:
    error = translate(status, {"retry-after": "7"}, _reply(body), provider="p", secret=SECRET)
    assert type(error) is expected
    assert (error.provider, error.upstream_status, error.retry_after) == ("p", status, 7.0)
    assert message in error.message and SECRET not in error.message
