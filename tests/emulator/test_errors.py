"""Error responses (scripted, auth, malformed input) in each protocol's error shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import anthropic
import openai
import pytest

from emulator import EmulatorControl, directive


def post_raw(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST without an SDK (to send what SDKs refuse to send); returns status and JSON."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_rate_limit_with_retry_after(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    text = "hi " + directive(status=429, retry_after=7, error="slow down")
    with pytest.raises(openai.RateLimitError) as oai_error:
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    assert oai_error.value.response.headers["retry-after"] == "7"
    assert oai_error.value.response.json() == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    with pytest.raises(anthropic.RateLimitError) as claude_error:
        claude.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": text}]
        )
    assert claude_error.value.response.headers["retry-after"] == "7"
    assert claude_error.value.response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }


def test_server_error(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    text = directive(status=500)
    with pytest.raises(openai.InternalServerError) as oai_error:
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    assert oai_error.value.status_code == 500
    assert oai_error.value.response.json()["error"]["type"] == "server_error"
    assert "retry-after" not in oai_error.value.response.headers
    with pytest.raises(anthropic.InternalServerError) as claude_error:
        claude.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": text}]
        )
    assert claude_error.value.response.json()["error"]["type"] == "api_error"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/chat/completions", {"error": {"type": "invalid_request_error"}}),
        ("/v1/messages", {"type": "error", "error": {"type": "authentication_error"}}),
    ],
)
def test_missing_api_key_is_401(
    emulator_url: str, control: EmulatorControl, path: str, expected: dict[str, Any]
) -> None:
    body = json.dumps(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    )
    status, error = post_raw(
        emulator_url + path, body.encode(), {"content-type": "application/json"}
    )
    assert status == 401
    _assert_shape(error, expected)
    assert [r["status"] for r in control.requests()] == [401]


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        (
            "/v1/chat/completions",
            {"authorization": "Bearer k"},
            {"error": {"type": "invalid_request_error", "param": None}},
        ),
        (
            "/v1/messages",
            {"x-api-key": "k"},
            {"type": "error", "error": {"type": "invalid_request_error"}},
        ),
    ],
)
def test_malformed_json_is_400(
    emulator_url: str,
    control: EmulatorControl,
    path: str,
    headers: dict[str, str],
    expected: dict[str, Any],
) -> None:
    status, error = post_raw(emulator_url + path, b"{not json", headers)
    assert status == 400
    _assert_shape(error, expected)
    assert control.requests()[0]["body"] is None


def test_invalid_requests_and_directives_are_400(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    with pytest.raises(openai.BadRequestError) as bad_directive:
        oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "<<emulator:{oops>>"}]
        )
    assert "emulator directive" in bad_directive.value.response.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as no_messages:
        oai.chat.completions.create(model="m", messages=[])
    assert no_messages.value.response.json()["error"]["param"] == "messages"
    with pytest.raises(anthropic.BadRequestError, match="unknown emulator directive field"):
        claude.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": directive(bogus=1)}]
        )


def _assert_shape(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """``expected``'s keys match ``actual`` (nested); ``error.message`` must be a string."""
    for key, value in expected.items():
        if isinstance(value, dict):
            _assert_shape(actual[key], value)
        else:
            assert actual[key] == value, key
    if "error" in actual:
        assert isinstance(actual["error"]["message"], str)
