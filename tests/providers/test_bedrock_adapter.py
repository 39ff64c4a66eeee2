"""The Bedrock adapter on boto3 against the emulator's Converse endpoint, over real HTTP:
Converse's wire format, SigV4 signing, the AWS credential chain and AWS's error codes.
What every adapter does is checked in ``test_adapter_contract.py``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from emulator import EmulatorControl, directive
from gateway.credentials import NO_CREDENTIALS, CredentialResolver, Credentials
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
from providers.registry import build_provider, resolve_credentials
from providers.streaming import TextDelta
from providers.types import ChatRequest, ChatResponse, ImagePart, Message, TextPart
from tests.support.vendors import WEATHER, no_ambient_aws, weather_round_trip

ACCESS_KEY_ID = "AKIATESTADAPTER00001"
SECRET = "bedrock-adapter-SECRET-wJalrXUtnFEMI-K7MDENG"
ENVIRON = {"TEST_BEDROCK_KEY_ID": ACCESS_KEY_ID, "TEST_BEDROCK_SECRET": SECRET}
MODEL = "meta.llama3-3-70b-instruct-v1:0"
ENV_SOURCE = {
    "type": "env",
    "vars": {"access_key_id": "TEST_BEDROCK_KEY_ID", "secret_access_key": "TEST_BEDROCK_SECRET"},
}


@pytest.fixture(autouse=True)
def no_ambient_aws_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_ambient_aws(monkeypatch, tmp_path)


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


def test_a_completion_is_a_converse_call_for_the_model(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    assert ask(provider, user("hi")).message.text == "echo: hi"
    record = last(emulator_control)
    assert (record["protocol"], record["path"]) == ("bedrock", f"/model/{MODEL}/converse")
    assert record["model"] == MODEL


def test_a_stream_is_a_signed_converse_stream_call_for_the_model(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    request = ChatRequest(model=MODEL, messages=(user("hi there"),), max_tokens=20)
    events = list(provider.stream(request))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: hi there"
    record = last(emulator_control)
    assert (record["path"], record["stream"]) == (f"/model/{MODEL}/converse-stream", True)
    assert record["auth"]["service"] == "bedrock"
    assert record["body"]["inferenceConfig"] == {"maxTokens": 20}


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


def test_tool_calls_have_tooluse_ids_and_results_go_back_as_tool_results(
    provider: Provider, emulator_control: EmulatorControl
) -> None:
    call = weather_round_trip(provider, MODEL)
    assert call.id.startswith("tooluse_")
    record = last(emulator_control)
    assert (record["turn"], record["tool_results"]) == (1, ["18C and sunny"])
    tool_result = record["body"]["messages"][2]["content"][0]["toolResult"]
    assert tool_result["toolUseId"] == call.id


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
