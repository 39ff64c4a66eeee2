"""The Bedrock adapter on boto3 against the emulator's Converse endpoint, over real HTTP."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from emulator import EmulatorControl, directive
from gateway.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.base import Provider
from providers.bedrock_converse import (
    BedrockConverseProvider,
    aws_chain_available,
    map_bedrock_error,
)
from providers.config import InstanceConfig
from providers.credentials import NO_CREDENTIALS, CredentialResolver, Credentials
from providers.registry import build_provider, resolve_credentials
from providers.types import ChatRequest, ChatResponse, ImagePart, Message, TextPart, ToolDefinition

ACCESS_KEY_ID = "AKIATESTADAPTER00001"
SECRET = "bedrock-adapter-SECRET-wJalrXUtnFEMI-K7MDENG"
ENVIRON = {"TEST_BEDROCK_KEY_ID": ACCESS_KEY_ID, "TEST_BEDROCK_SECRET": SECRET}
MODEL = "meta.llama3-3-70b-instruct-v1:0"
WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
ENV_SOURCE = {
    "type": "env",
    "vars": {"access_key_id": "TEST_BEDROCK_KEY_ID", "secret_access_key": "TEST_BEDROCK_SECRET"},
}


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's default chain sees nothing of this machine: no AWS variables, no files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def instance(url: str, **fields: Any) -> InstanceConfig:
    fields = {"region": "us-east-1", "timeout_seconds": 10.0, "credentials": [ENV_SOURCE], **fields}
    return InstanceConfig(name="bedrock-test", type="bedrock", base_url=url, **fields)


def build(config: InstanceConfig) -> Provider:
    """The adapter with its credentials resolved from ``ENVIRON``, as a worker does."""
    return build_provider(config, resolve_credentials(config, CredentialResolver(ENVIRON)))


@pytest.fixture
def provider(provider_emulator_url: str, emulator_control: EmulatorControl) -> Iterator[Provider]:
    adapter = build(instance(provider_emulator_url))
    yield adapter
    adapter.close()


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def ask(provider: Provider, *messages: Message, **fields: Any) -> ChatResponse:
    return provider.complete(
        ChatRequest(model=fields.pop("model", MODEL), messages=messages, **fields)
    )


def last(control: EmulatorControl) -> dict[str, Any]:
    record: dict[str, Any] = control.requests()[-1]
    return record


# --- successful calls ------------------------------------------------------------------------


def test_plain_completion_returns_the_reply_usage_and_request_id(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    response = ask(provider, user("hi"))
    assert (response.message.text, response.finish_reason) == ("echo: hi", "stop")
    assert response.model == MODEL
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.provider_response_id
    record = last(emulator_control)
    assert (record["protocol"], record["model"]) == ("bedrock", MODEL)


def test_requests_are_sigv4_signed_with_the_configured_key_and_region(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    adapter = build(instance(provider_emulator_url, region="eu-west-1"))
    ask(adapter, user("hi"))
    adapter.close()
    auth = last(emulator_control)["auth"]
    assert (auth["access_key_id"], auth["region"], auth["service"]) == (
        ACCESS_KEY_ID,
        "eu-west-1",
        "bedrock",
    )


def test_system_prompt_and_inference_config_reach_the_wire(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    system = Message("system", (TextPart("Be terse."),))
    ask(provider, system, user("hi"), max_tokens=64, temperature=0.2, stop=("END",))
    body = last(emulator_control)["body"]
    assert body["system"] == [{"text": "Be terse."}]
    assert body["inferenceConfig"] == {
        "maxTokens": 64,
        "temperature": 0.2,
        "stopSequences": ["END"],
    }


def test_tool_call_round_trip(provider: Provider, emulator_control: EmulatorControl) -> None:
    ask_for_tool = user(
        "weather? "
        + directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    )
    first = ask(provider, ask_for_tool, tools=(WEATHER,))
    assert first.finish_reason == "tool_calls"
    (call,) = first.message.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert call.id.startswith("tooluse_")
    result = Message("tool", (TextPart("18C, sunny"),), tool_call_id=call.id)
    second = ask(provider, ask_for_tool, first.message, result, tools=(WEATHER,))
    assert (second.message.text, second.finish_reason) == ("tool results: 18C, sunny", "stop")
    record = last(emulator_control)
    assert (record["turn"], record["tool_results"]) == (1, ["18C, sunny"])


def test_turns_directive_drives_a_multi_step_tool_loop(provider: Provider) -> None:
    script = directive(
        turns=[
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]},
            {"reply": "done"},
        ]
    )
    messages: list[Message] = [user("plan " + script)]
    cities = []
    for _ in range(3):
        response = ask(provider, *messages, tools=(WEATHER,))
        if not response.message.tool_calls:
            break
        (call,) = response.message.tool_calls
        cities.append(json.loads(call.arguments)["city"])
        messages += [response.message, Message("tool", (TextPart("ok"),), tool_call_id=call.id)]
    assert (cities, response.message.text) == (["Paris", "Rome"], "done")


def test_usage_reports_the_providers_token_counts(provider: Provider) -> None:
    response = ask(provider, user(directive(usage={"prompt_tokens": 7, "completion_tokens": 3})))
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 3)


def test_images_travel_as_bytes_base64_encoded_by_boto3(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    ask(provider, Message("user", (TextPart("what?"), ImagePart(url))))
    image = last(emulator_control)["body"]["messages"][0]["content"][1]["image"]
    assert image == {"format": "png", "source": {"bytes": base64.b64encode(png).decode()}}


def test_an_inference_profile_arn_reaches_the_path_intact(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-v1:0"
    ask(provider, user("hi"), model=arn)
    assert last(emulator_control)["model"] == arn


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [NO_CREDENTIALS, Credentials(source="workload_identity", ambient=True)],
    ids=["nothing configured", "ambient"],
)
def test_without_explicit_keys_the_default_chain_signs(
    credentials: Credentials,
    provider_emulator_url: str,
    emulator_control: EmulatorControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMDEFAULTCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "default-chain-secret-0123456789")
    adapter = BedrockConverseProvider(instance(provider_emulator_url), credentials)
    assert ask(adapter, user("hi")).message.text == "echo: hi"
    adapter.close()
    assert last(emulator_control)["auth"]["access_key_id"] == "AKIAFROMDEFAULTCHAIN"


def test_no_credentials_anywhere_is_auth_failed_before_any_request(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    adapter = BedrockConverseProvider(instance(provider_emulator_url), NO_CREDENTIALS)
    with pytest.raises(ProviderError) as caught:
        ask(adapter, user("hi"))
    adapter.close()
    assert (type(caught.value), caught.value.message) == (
        ProviderError,
        "provider authentication failed",
    )
    assert emulator_control.requests() == []


def test_a_bedrock_bearer_token_in_the_environment_does_not_replace_sigv4(
    provider: Provider, emulator_control: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKsome-bedrock-api-key")
    assert ask(provider, user("hi")).message.text == "echo: hi"
    assert last(emulator_control)["auth"]["access_key_id"] == ACCESS_KEY_ID


def test_aws_chain_probe_reports_whether_the_default_chain_finds_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = instance("http://127.0.0.1:9")
    assert aws_chain_available(config) is False
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMDEFAULTCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "default-chain-secret-0123456789")
    assert aws_chain_available(config) is True


# --- errors ----------------------------------------------------------------------------------


def test_throttling_maps_to_provider_rate_limited_with_retry_after(provider: Provider) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        ask(provider, user(directive(status=429, retry_after=2)))
    error = caught.value
    assert (error.retry_after, error.upstream_status, error.provider) == (2, 429, "bedrock-test")


@pytest.mark.parametrize("status", [500, 503, 408])
def test_server_errors_and_model_timeouts_are_retryable_unavailable_tried_once(
    provider: Provider, emulator_control: EmulatorControl, status: int
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        ask(provider, user(directive(status=status)))
    assert (caught.value.upstream_status, caught.value.retryable) == (status, True)
    assert len(emulator_control.requests()) == 1  # boto3's retries are off


@pytest.mark.parametrize("status", [400, 404])
def test_validation_and_not_found_errors_are_rejected_with_the_message(
    provider: Provider, status: int
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        ask(provider, user(directive(status=status, error="bad thing")))
    error = caught.value
    assert (error.message, error.upstream_status, error.status_code) == ("bad thing", status, 400)


def test_a_model_error_is_a_provider_failure_not_the_callers(provider: Provider) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(provider, user(directive(status=424, error="model crashed")))
    assert type(caught.value) is ProviderError
    assert (caught.value.status_code, caught.value.retryable) == (502, False)
    assert "model crashed" in caught.value.message


def test_a_request_converse_refuses_is_rejected_with_awss_message(provider: Provider) -> None:
    with pytest.raises(ProviderRejected) as caught:
        ask(provider, Message("assistant", (TextPart("hello"),)))
    assert "must start with a user message" in caught.value.message


@pytest.mark.parametrize("status", [401, 403])
def test_access_denied_is_auth_failed(provider: Provider, status: int) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(provider, user(directive(status=status, error=f"bad key {SECRET}")))
    assert type(caught.value) is ProviderError
    assert (caught.value.message, caught.value.status_code) == (
        "provider authentication failed",
        502,
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, ProviderRateLimited),
        ("ServiceQuotaExceededException", 400, ProviderRateLimited),
        ("ModelNotReadyException", 429, ProviderUnavailable),
        ("ModelTimeoutException", 408, ProviderUnavailable),
        ("InternalServerException", 500, ProviderUnavailable),
        ("ServiceUnavailableException", 503, ProviderUnavailable),
        ("AccessDeniedException", 403, ProviderError),
        ("UnrecognizedClientException", 403, ProviderError),
        ("ExpiredTokenException", 400, ProviderError),
        ("ValidationException", 400, ProviderRejected),
        ("ResourceNotFoundException", 404, ProviderRejected),
        ("ModelErrorException", 424, ProviderError),
    ],
)
def test_aws_error_codes_map_to_the_gateway_hierarchy(
    code: str, status: int, expected: type[ProviderError]
) -> None:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    exc = botocore.exceptions.ClientError(response, "Converse")
    error = map_bedrock_error(exc, provider="p", credentials=NO_CREDENTIALS)
    assert type(error) is expected


@pytest.mark.parametrize("status", [400, 429, 500])
def test_errors_never_contain_the_secret(provider: Provider, status: int) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(provider, user(directive(status=status, error=f"signed with {SECRET}")))
    error = caught.value
    public = " ".join([str(error), repr(error), json.dumps(error.to_dict())])
    assert SECRET not in public
    assert "[redacted]" in error.message
    # Not chained: botocore errors can carry the signed request.
    assert error.__cause__ is None and error.__suppress_context__


def test_connection_refused_is_unavailable(closed_port_url: str) -> None:
    adapter = build(instance(closed_port_url))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, user("hi"))
    adapter.close()
    assert (caught.value.retryable, caught.value.upstream_status) == (True, None)
    assert "connect" in caught.value.message


def test_slow_provider_times_out_as_unavailable(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    adapter = build(instance(provider_emulator_url, timeout_seconds=0.3))
    with pytest.raises(ProviderUnavailable) as caught:
        ask(adapter, user(directive(latency_ms=1500)))
    adapter.close()
    assert "in time" in caught.value.message
