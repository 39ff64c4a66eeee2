"""Bad input gets a clear 4xx in the one error shape; never a 500 or a stack trace."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import KEY_A

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == error_type
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]


def test_malformed_json_is_400(client_a: httpx.Client) -> None:
    response = client_a.post(
        "/v1/jobs",
        content=b'{"type": "completion", "request": ',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, "invalid_request_error")


def test_missing_field_is_422_naming_the_field(client_a: httpx.Client) -> None:
    error = assert_error(
        client_a.post("/v1/jobs", json={"type": "completion"}), 422, "validation_error"
    )
    assert error["param"] == "request"


def test_unknown_job_type_is_422(client_a: httpx.Client) -> None:
    response = client_a.post("/v1/jobs", json={"type": "banana", "request": {}})
    assert assert_error(response, 422, "validation_error")["param"] == "type"


def test_unknown_model_is_400_listing_known_models(client_a: httpx.Client) -> None:
    body = {
        "type": "completion",
        "request": {"model": "llama-9000", "messages": [{"role": "user", "content": "x"}]},
    }
    error = assert_error(client_a.post("/v1/jobs", json=body), 400, "model_not_found")
    assert error["param"] == "model"
    assert "gpt-4o-mini" in str(error["message"]) and "claude-sonnet-4-5" in str(error["message"])


def test_malformed_message_is_400_with_param(client_a: httpx.Client) -> None:
    body = {
        "type": "completion",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]},
    }
    error = assert_error(client_a.post("/v1/jobs", json=body), 400, "invalid_request_error")
    assert str(error["param"]).startswith("messages[0]")


def test_request_the_routed_provider_cannot_carry_is_400_before_queueing(
    client_a: httpx.Client,
) -> None:
    # Valid OpenAI shape, but Anthropic needs the tool-call arguments as a JSON object.
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{bad"}}
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
    ]
    body = {"type": "completion", "request": {"model": "claude-sonnet-4-5", "messages": messages}}
    error = assert_error(client_a.post("/v1/jobs", json=body), 400, "invalid_request_error")
    assert "arguments" in str(error["message"])
    assert client_a.get("/v1/jobs").json()["data"] == []


def test_unknown_tool_job_is_404(client_a: httpx.Client) -> None:
    body = {"type": "tool", "request": {"name": "no_such_tool", "arguments": {}}}
    error = assert_error(client_a.post("/v1/jobs", json=body), 404, "tool_not_found")
    assert "no_such_tool" in str(error["message"])


def test_enhancement_job_is_400_until_available(client_a: httpx.Client) -> None:
    body = {"type": "enhancement", "request": {"document": "x"}}
    assert_error(client_a.post("/v1/jobs", json=body), 400, "invalid_request_error")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": "Basic abc"}],
    ids=["no-key", "wrong-bearer", "wrong-x-api-key", "wrong-scheme"],
)
def test_bad_or_missing_key_is_401(stack: object, headers: dict[str, str]) -> None:
    url = stack.api_url  # type: ignore[attr-defined]
    response = httpx.get(f"{url}/v1/jobs", headers=headers)
    assert_error(response, 401, "authentication_error")
    assert KEY_A not in response.text


def test_oversized_body_is_413(client_a: httpx.Client) -> None:
    big = {
        "type": "completion",
        "request": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "x" * 70_000}],
        },
    }
    assert_error(client_a.post("/v1/jobs", json=big), 413, "payload_too_large")


def test_oversized_chunked_body_without_length_is_413(client_a: httpx.Client) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"type": "completion", "request": {"x": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}}'

    response = client_a.post(
        "/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_unknown_route_is_404_in_error_shape(client_a: httpx.Client) -> None:
    assert_error(client_a.get("/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_in_error_shape(client_a: httpx.Client) -> None:
    assert_error(client_a.delete("/v1/jobs"), 405, "method_not_allowed")


def test_wait_timeout_above_limit_is_400(client_a: httpx.Client) -> None:
    job = client_a.post(
        "/v1/jobs",
        json={
            "type": "completion",
            "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        },
    ).json()
    error = assert_error(
        client_a.get(f"/v1/jobs/{job['id']}/wait", params={"timeout": 100000}),
        400,
        "invalid_request_error",
    )
    assert error["param"] == "timeout"


def test_bad_list_cursor_is_422(client_a: httpx.Client) -> None:
    assert_error(client_a.get("/v1/jobs", params={"cursor": "../../etc"}), 422, "validation_error")


def test_priority_out_of_range_is_422(client_a: httpx.Client) -> None:
    body = {
        "type": "completion",
        "priority": 42,
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
    }
    assert (
        assert_error(client_a.post("/v1/jobs", json=body), 422, "validation_error")["param"]
        == "priority"
    )


def test_chat_completions_with_empty_messages_is_422(client_a: httpx.Client) -> None:
    response = client_a.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert_error(response, 422, "validation_error")


def test_chat_completions_unknown_model_is_400(client_a: httpx.Client) -> None:
    response = client_a.post(
        "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
    )
    assert_error(response, 400, "model_not_found")


@pytest.mark.parametrize(
    ("request_body", "metadata"),
    [
        ({**CHAT, "max_tokens": 10**30}, {}),
        (CHAT, {"n": 10**30}),
    ],
    ids=["huge-int-in-request", "huge-int-in-metadata"],
)
def test_unstorable_values_are_400_not_500(
    client_a: httpx.Client, request_body: dict[str, object], metadata: dict[str, object]
) -> None:
    body = {"type": "completion", "request": request_body, "metadata": metadata}
    assert_error(client_a.post("/v1/jobs", json=body), 400, "invalid_request_error")


def test_lone_surrogate_and_deep_nesting_are_400_not_500(client_a: httpx.Client) -> None:
    def raw_job(content_json: str, extra: str = "") -> bytes:
        message = '{"role": "user", "content": ' + content_json + "}"
        request = '{"model": "gpt-4o-mini", "messages": [' + message + "]" + extra + "}"
        return ('{"type": "completion", "request": ' + request + "}").encode()

    headers = {"content-type": "application/json"}
    surrogate = raw_job('"\\ud800"')  # valid JSON text, but not storable UTF-8
    response = client_a.post("/v1/jobs", content=surrogate, headers=headers)
    assert_error(response, 400, "invalid_request_error")
    deep = raw_job('"x"', ', "x": ' + "[" * 300 + "]" * 300)
    response = client_a.post("/v1/jobs", content=deep, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"idempotency_key": "has spaces"}, "idempotency_key"),
        ({"idempotency_key": "x" * 300}, "idempotency_key"),
        ({"metadata": {f"k{i}": i for i in range(65)}}, "metadata"),
        ({"metadata": {"nested": {"no": "objects"}}}, "metadata.nested"),
        ({"webhook": {"url": "not a url"}}, "webhook.url"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
    ids=["key-spaces", "key-too-long", "metadata-big", "metadata-nested", "webhook", "extra"],
)
def test_invalid_job_options_are_422_naming_the_field(
    client_a: httpx.Client, extra: dict[str, object], param: str
) -> None:
    body = {"type": "completion", "request": CHAT, **extra}
    error = assert_error(client_a.post("/v1/jobs", json=body), 422, "validation_error")
    assert str(error["param"]).startswith(param)
