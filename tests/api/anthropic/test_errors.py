"""Gateway errors in Anthropic's shape: the type of each status, the statuses Anthropic
answers differently, the field named in the message, ``retry-after`` on a 429."""

from __future__ import annotations

import orjson
import pytest

from api.anthropic.errors import anthropic_error, is_messages_path, most_specific


@pytest.mark.parametrize(
    ("status", "gateway_type", "answered", "anthropic_type"),
    [
        (400, "invalid_request_error", 400, "invalid_request_error"),
        (400, "model_not_found", 404, "not_found_error"),
        (422, "validation_error", 400, "invalid_request_error"),
        (401, "authentication_error", 401, "authentication_error"),
        (402, "budget_exceeded", 402, "billing_error"),
        (404, "not_found", 404, "not_found_error"),
        (409, "cancelled", 409, "invalid_request_error"),
        (413, "payload_too_large", 413, "request_too_large"),
        (429, "provider_rate_limited", 429, "rate_limit_error"),
        (429, "rate_limit_exceeded", 429, "rate_limit_error"),
        (500, "internal_error", 500, "api_error"),
        (502, "provider_error", 502, "api_error"),
        (503, "service_unavailable", 503, "overloaded_error"),
        (504, "timeout", 504, "timeout_error"),
    ],
)
def test_each_status_has_anthropics_type(
    status: int, gateway_type: str, answered: int, anthropic_type: str
) -> None:
    response = anthropic_error(status, gateway_type, "went wrong")
    assert response.status_code == answered
    assert orjson.loads(response.body) == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "went wrong"},
    }


def test_the_field_is_named_in_the_message_once() -> None:
    named = orjson.loads(anthropic_error(400, "x", "must be positive", "max_tokens").body)
    assert named["error"]["message"] == "max_tokens: must be positive"
    already = orjson.loads(
        anthropic_error(400, "x", "max_tokens: must be positive", "max_tokens").body
    )
    assert already["error"]["message"] == "max_tokens: must be positive"


def test_a_rate_limit_carries_retry_after_rounded_up() -> None:
    response = anthropic_error(429, "provider_rate_limited", "slow", retry_after=1.2)
    assert response.headers["retry-after"] == "2"
    assert "retry-after" not in anthropic_error(429, "provider_rate_limited", "slow").headers


def test_only_the_messages_paths_take_anthropics_shape() -> None:
    assert is_messages_path("/v1/messages")
    assert is_messages_path("/v1/messages/count_tokens")
    assert not is_messages_path("/v1/messagesx")
    assert not is_messages_path("/v1/chat/completions")


def test_the_deepest_validation_error_is_reported_without_union_labels() -> None:
    errors = [
        {"loc": ("body", "messages", 0, "content", "str"), "msg": "a", "type": "string_type"},
        {
            "loc": ("body", "messages", 0, "content", "list[tagged-union[A,B]]", 0, "text", "x"),
            "msg": "b",
            "type": "extra_forbidden",
        },
    ]
    assert most_specific(errors)["loc"] == ("body", "messages", 0, "content", 0, "text", "x")
