"""The official ``anthropic`` SDK against the gateway's Messages API (``POST /v1/messages``),
through the real stack to a Claude model on Anthropic and Bedrock, Gemini on Vertex and a
GPT model on OpenAI; its errors raised as the SDK's own exceptions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack

# (model, instance, emulator protocol): each vendor the Messages API reaches.
ROUTES = [
    pytest.param("claude-sonnet-4-5", "anthropic", "anthropic", id="claude-anthropic"),
    pytest.param("claude-sonnet-4-5", "bedrock-us", "bedrock", id="claude-bedrock"),
    pytest.param("claude-sonnet-4-5", "vertex", "vertex_anthropic", id="claude-vertex"),
    pytest.param("gemini-2.5-flash", "vertex", "vertex", id="gemini-vertex"),
    pytest.param("gpt-4o-mini", "openai", "openai", id="gpt-openai"),
]
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=stack.api_url, api_key=KEY_A, max_retries=0) as client:
        yield client


def pinned(instance: str) -> dict[str, Any]:
    return {"extra_body": {"provider": instance}}


def user(content: object) -> dict[str, Any]:
    return {"role": "user", "content": content}


@pytest.mark.parametrize(("model", "instance", "protocol"), ROUTES)
def test_sdk_gets_a_message_with_the_job_id(
    sdk: anthropic.Anthropic, emulator: EmulatorControl, model: str, instance: str, protocol: str
) -> None:
    raw = sdk.messages.with_raw_response.create(
        model=model,
        max_tokens=64,
        system="You are terse.",
        messages=[user("ping")],
        **pinned(instance),
    )
    message = raw.parse()
    job_id = raw.headers["x-llm-gateway-job-id"]
    assert message.id == "msg_" + job_id.removeprefix("job_")
    assert (message.type, message.role, message.model) == ("message", "assistant", model)
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "echo: ping")]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    [record] = emulator.requests()
    assert record["protocol"] == protocol


def test_system_blocks_and_options_reach_the_provider_in_its_shape(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    sdk.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=77,
        system=[
            {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Answer in French."},
        ],
        messages=[user("ping")],
        stop_sequences=["STOP"],
        metadata={"user_id": "ada"},
        extra_headers={"anthropic-beta": "some-beta-2025-01-01"},
    )
    body = emulator.requests()[-1]["body"]
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert (body["max_tokens"], body["stop_sequences"]) == (77, ["STOP"])
    assert body["metadata"] == {"user_id": "ada"}


def test_sampling_options_reach_a_provider_that_takes_them_and_are_refused_by_one_that_does_not(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    # The current SDK no longer names them (Anthropic's API refuses them); older SDKs do.
    sampling = {"temperature": 0.5, "top_p": 0.9}
    sdk.messages.create(
        model="gpt-4o-mini", max_tokens=8, messages=[user("x")], extra_body=sampling
    )
    body = emulator.requests()[-1]["body"]
    assert (body["temperature"], body["top_p"]) == (0.5, 0.9)
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=8,
            messages=[user("x")],
            extra_body={**sampling, "provider": "anthropic"},
        )
    message = info.value.body["error"]["message"]  # type: ignore[index]
    assert "temperature" in message and "anthropic" in message


@pytest.mark.parametrize(("model", "instance", "protocol"), ROUTES)
def test_structured_output_gets_json_matching_the_schema_on_every_route(
    sdk: anthropic.Anthropic, emulator: EmulatorControl, model: str, instance: str, protocol: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["city", "celsius"],
        "additionalProperties": False,
    }
    message = sdk.messages.create(
        model=model,
        max_tokens=64,
        messages=[user("Weather in Paris as JSON")],
        output_config={"format": {"type": "json_schema", "schema": schema}},
        **pinned(instance),
    )
    [block] = message.content
    assert block.type == "text"
    assert set(json.loads(block.text)) == {"city", "celsius"}
    [record] = emulator.requests()
    assert record["protocol"] == protocol


@pytest.mark.parametrize(("model", "instance", "protocol"), ROUTES)
def test_tool_use_and_tool_result_round_trip(
    sdk: anthropic.Anthropic, model: str, instance: str, protocol: str
) -> None:
    text = "weather? " + directive(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    first = sdk.messages.create(
        model=model,
        max_tokens=64,
        messages=[user(text)],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        **pinned(instance),
    )
    assert first.stop_reason == "tool_use"
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})

    follow_up = sdk.messages.create(
        model=model,
        max_tokens=64,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            user(text),
            {"role": "assistant", "content": first.content},
            user([{"type": "tool_result", "tool_use_id": call.id, "content": "18C and sunny"}]),
        ],
        **pinned(instance),
    )
    assert follow_up.stop_reason == "end_turn"
    answer = "".join(b.text for b in follow_up.content if b.type == "text")
    assert "18C and sunny" in answer


def test_an_answer_dumped_whole_is_accepted_back_as_history(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    text = "weather? " + directive(tool_calls=[{"name": "get_weather", "arguments": {}}])
    first = sdk.messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        messages=[user([{"type": "text", "text": "hi"}])],
    )
    second = sdk.messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            user("hi"),
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            user(text),
        ],
    )
    assert second.stop_reason == "tool_use"
    assert emulator.requests()[-1]["body"]["messages"][1] == {
        "role": "assistant",
        "content": "echo: hi",
    }


def test_tool_choice_and_parallel_use_reach_anthropic(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    sdk.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=[user("weather?")],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    body = emulator.requests()[-1]["body"]
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert body["tools"][0]["input_schema"]["required"] == ["city"]


def test_a_tool_error_result_reaches_the_model_marked(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    sdk.messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            user("weather?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}
                ],
            },
            user(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_1",
                        "content": [{"type": "text", "text": "city is required"}],
                        "is_error": True,
                    }
                ]
            ),
        ],
    )
    messages = emulator.requests()[-1]["body"]["messages"]
    assert messages[-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "Error: city is required",
    }
    assert json.loads(messages[-2]["tool_calls"][0]["function"]["arguments"]) == {}


def test_an_image_reaches_anthropic_as_a_base64_block(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    source = {"type": "base64", "media_type": "image/png", "data": PNG}
    message = sdk.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=[user([{"type": "image", "source": source}, {"type": "text", "text": "what?"}])],
    )
    assert message.content[0].type == "text"
    [image, _] = emulator.requests()[-1]["body"]["messages"][0]["content"]
    assert image == {"type": "image", "source": source}


def test_an_image_reaches_openai_as_a_data_url(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    source = {"type": "base64", "media_type": "image/png", "data": PNG}
    sdk.messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        messages=[user([{"type": "image", "source": source}, {"type": "text", "text": "what?"}])],
    )
    [image, _] = emulator.requests()[-1]["body"]["messages"][0]["content"]
    assert image["image_url"]["url"] == f"data:image/png;base64,{PNG}"


def _document_request(instance: str) -> dict[str, Any]:
    document = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        "title": "report.pdf",
    }
    return {
        "max_tokens": 64,
        "messages": [user([document, {"type": "text", "text": "summarise"}])],
        **pinned(instance),
    }


@pytest.mark.parametrize(("model", "instance", "protocol"), ROUTES)
def test_a_document_reaches_each_vendor_in_its_shape(
    sdk: anthropic.Anthropic, emulator: EmulatorControl, model: str, instance: str, protocol: str
) -> None:
    message = sdk.messages.create(model=model, **_document_request(instance))
    assert message.stop_reason == "end_turn"
    content = emulator.requests()[-1]["body"]
    match protocol:
        case "anthropic" | "vertex_anthropic":
            block = content["messages"][0]["content"][0]
            source = {"type": "base64", "media_type": "application/pdf", "data": PDF}
            assert block == {"type": "document", "source": source, "title": "report.pdf"}
        case "bedrock":
            block = content["messages"][0]["content"][0]["document"]
            assert (block["format"], block["name"]) == ("pdf", "report")
            assert block["source"]["bytes"] == PDF
        case "vertex":
            part = content["contents"][0]["parts"][0]
            assert part == {"inlineData": {"mimeType": "application/pdf", "data": PDF}}
        case "openai":
            part = content["messages"][0]["content"][0]
            file = {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "report.pdf"}
            assert part == {"type": "file", "file": file}
        case _:
            raise AssertionError(f"no expected shape for {protocol}")


def test_a_document_to_an_instance_without_documents_is_refused(
    sdk: anthropic.Anthropic, emulator: EmulatorControl
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.create(model="llama3.2", **_document_request("ollama"))
    assert "does not accept documents" in info.value.message
    assert emulator.requests() == []


# Errors: Anthropic's shape, so the SDK raises its own classes.


def test_unknown_model_is_sdk_not_found(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        sdk.messages.create(model="nope", max_tokens=8, messages=[user("x")])
    assert info.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": info.value.body["error"]["message"]},  # type: ignore[index]
    }
    assert "unknown model 'nope'" in info.value.message


def test_bad_key_is_sdk_authentication_error(stack: Stack) -> None:
    with (
        anthropic.Anthropic(base_url=stack.api_url, api_key="wrong", max_retries=0) as client,
        pytest.raises(anthropic.AuthenticationError) as info,
    ):
        client.messages.create(model="gpt-4o-mini", max_tokens=8, messages=[user("x")])
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_bearer_authorization_is_accepted_too(stack: Stack, emulator: EmulatorControl) -> None:
    with anthropic.Anthropic(
        base_url=stack.api_url, auth_token=KEY_A, api_key=None, max_retries=0
    ) as client:
        message = client.messages.create(model="gpt-4o-mini", max_tokens=8, messages=[user("x")])
    assert message.content[0].type == "text"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"top_k": 5}, "top_k"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ({"temperature": 1.5}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        (
            {"messages": [user([{"type": "text", "text": "x", "citations": [{}]}])]},
            "messages[0].content[0].text.citations",
        ),
    ],
)
def test_bad_input_is_sdk_bad_request_naming_the_field(
    sdk: anthropic.Anthropic, extra: dict[str, Any], field: str
) -> None:
    request = {"model": "gpt-4o-mini", "max_tokens": 8, "messages": [user("x")]}
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.create(**request, extra_body=extra)  # type: ignore[arg-type]
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(f"{field}:")


def test_a_missing_max_tokens_and_a_malformed_body_are_refused(client_a: httpx.Client) -> None:
    missing = client_a.post("/v1/messages", json={"model": "gpt-4o-mini", "messages": [user("x")]})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"].startswith("max_tokens:")
    broken = client_a.post(
        "/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    error = broken.json()
    assert (error["type"], error["error"]["type"]) == ("error", "invalid_request_error")
    assert error["error"]["message"].startswith("request body is not valid JSON")


def test_a_body_over_the_limit_is_request_too_large(client_a: httpx.Client) -> None:
    big = {"model": "gpt-4o-mini", "max_tokens": 8, "messages": [user("x" * 70_000)]}
    response = client_a.post("/v1/messages", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_provider_rate_limit_is_sdk_rate_limit_error_with_retry_after(
    sdk: anthropic.Anthropic,
) -> None:
    limited = directive(status=429, retry_after=1)
    with pytest.raises(anthropic.RateLimitError) as info:
        sdk.messages.create(
            model="gpt-4o-mini", max_tokens=8, messages=[user(limited)], **pinned("openai")
        )
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.response.headers["x-llm-gateway-job-id"].startswith("job_")
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_provider_outage_is_sdk_server_error(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as info:
        sdk.messages.create(
            model="gpt-4o-mini",
            max_tokens=8,
            messages=[user(directive(status=503))],
            **pinned("openai"),
        )
    assert info.value.status_code == 502
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_other_routes_keep_the_gateways_error_shape(client_a: httpx.Client) -> None:
    response = client_a.post("/v1/chat/completions", json={"model": "nope", "messages": []})
    assert set(response.json()) == {"error"}


# POST /v1/messages/count_tokens


# (model, instance, the end of the count's upstream path): each type that counts tokens.
COUNTING_ROUTES = [
    pytest.param("claude-sonnet-4-5", "anthropic", "/v1/messages/count_tokens", id="anthropic"),
    pytest.param("claude-sonnet-4-5", "bedrock-us", "/count-tokens", id="bedrock"),
    pytest.param("gemini-2.5-flash", "vertex", ":countTokens", id="vertex"),
    pytest.param("claude-sonnet-4-5", "vertex", "count-tokens:rawPredict", id="claude-on-vertex"),
]


@pytest.mark.parametrize(("model", "instance", "path"), COUNTING_ROUTES)
def test_count_tokens_on_a_counting_instance_is_the_providers(
    sdk: anthropic.Anthropic, emulator: EmulatorControl, model: str, instance: str, path: str
) -> None:
    request: dict[str, Any] = {
        "model": model,
        "system": "You are terse.",
        "messages": [user("how many tokens is this prompt?")],
        "tools": [WEATHER_TOOL],
    }
    raw = sdk.messages.with_raw_response.count_tokens(**request, **pinned(instance))
    counted = raw.parse()
    assert raw.headers["x-llm-gateway-job-id"].startswith("job_")
    assert raw.http_response.json()["source"] == "provider"
    [record] = emulator.requests()
    assert record["path"].endswith(path)
    assert record["status"] == 200
    # A count carries no output options (max_tokens, maxTokens, maxOutputTokens).
    sent = json.dumps(record["body"]).lower().replace("_", "")
    assert "maxtokens" not in sent
    assert "maxoutputtokens" not in sent
    # The emulator counts a prompt as it counts a message's input tokens.
    message = sdk.messages.create(max_tokens=8, **request, **pinned(instance))
    assert counted.input_tokens == message.usage.input_tokens


def test_count_tokens_elsewhere_is_the_gateways_estimate(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    text = "x" * 400  # the estimate: characters / 4
    body = {"model": "gpt-4o-mini", "messages": [user(text)], "provider": "openai"}
    response = client_a.post("/v1/messages/count_tokens", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"input_tokens": 100, "source": "estimate"}
    assert emulator.requests() == []  # no provider call, no job


def test_count_tokens_errors_are_anthropics(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.count_tokens(model="nope", messages=[user("x")])
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[user("x")], extra_body={"max_tokens": 5}
        )
    assert info.value.body["error"]["message"].startswith("max_tokens:")  # type: ignore[index]


@pytest.mark.parametrize(("model", "instance", "path"), COUNTING_ROUTES)
def test_a_token_count_the_provider_refuses_fails_in_anthropics_shape(
    sdk: anthropic.Anthropic, model: str, instance: str, path: str
) -> None:
    refused = directive(status=400, error="prompt is too long")
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.count_tokens(model=model, messages=[user(refused)], **pinned(instance))
    assert info.value.response.headers["x-llm-gateway-job-id"].startswith("job_")
    assert "prompt is too long" in info.value.message


@pytest.mark.parametrize(
    ("model", "source", "instance"),
    [
        ("claude-sonnet-4-5", "provider", "anthropic"),
        ("claude-sonnet-4-5", "provider", "bedrock-us"),
        ("gpt-4o-mini", "estimate", "openai"),
    ],
)
def test_a_token_count_is_also_a_job_type(
    client_a: httpx.Client, emulator: EmulatorControl, model: str, source: str, instance: str
) -> None:
    request = {"model": model, "messages": [user("x" * 40)], "provider": instance}
    job = client_a.post("/v1/jobs", json={"type": "token_count", "request": request}).json()
    done = client_a.get(f"/v1/jobs/{job['id']}/wait", params={"timeout": 20}).json()
    assert done["status"] == "succeeded", done
    assert done["result"]["source"] == source
    assert done["result"]["provider"] == instance
    if source == "estimate":
        assert done["result"]["input_tokens"] == 10  # 40 characters / 4
    paths = [r["path"] for r in emulator.requests()]
    assert len(paths) == (1 if source == "provider" else 0)
    assert all("count" in path for path in paths)


def test_a_missing_key_is_anthropics_authentication_error(stack: Stack) -> None:
    body = {"model": "gpt-4o-mini", "max_tokens": 8, "messages": [user("x")]}
    response = httpx.post(f"{stack.api_url}/v1/messages", json=body)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert "X-API-Key" in error["message"]


def test_no_worker_for_the_routed_instance_is_sdk_service_unavailable(
    sdk: anthropic.Anthropic,
) -> None:
    # Only "standby" serves this model, and no worker consumes its queue.
    with pytest.raises(anthropic.ServiceUnavailableError) as info:
        sdk.messages.create(model="standby-model", max_tokens=8, messages=[user("x")])
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert "no worker is serving" in info.value.body["error"]["message"]  # type: ignore[index]
