"""The watsonx.ai adapter (httpx, IAM token exchange) against the in-thread emulator:
watsonx's wire format, the IAM token's life and re-exchange, watsonx's error messages.
What every adapter does is checked in ``test_adapter_contract.py``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from gateway.credentials import Credentials
from gateway.errors import ProviderError, ProviderUnavailable
from providers.config import InstanceConfig
from providers.streaming import TextDelta
from providers.types import ChatRequest, Message, TextPart, ToolCall, ToolDefinition
from providers.upstream_errors import AUTH_FAILED
from providers.watsonx_chat import WatsonxChatProvider

SECRET = "watsonx-adapter-SECRET-c2VjcmV0a2V5MDAx"
PROJECT = "4947c695-a374-428c-acca-332c1a1dc9e9"
MODEL = "ibm/granite-3-8b-instruct"
ADD = ToolDefinition(
    "add",
    "Adds the values a and b to get a sum.",
    {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
)


@contextmanager
def adapter_for(
    base_url: str, *, iam_url: str | None = None, api_key: str = SECRET, timeout: float = 5.0
) -> Iterator[WatsonxChatProvider]:
    config = InstanceConfig(
        name="watsonx-test",
        type="watsonx",
        base_url=base_url,
        project=PROJECT,
        api_version="2024-05-31",
        options={"iam_url": iam_url or base_url},
        timeout_seconds=timeout,
    )
    adapter = WatsonxChatProvider(config, Credentials(source="test", fields={"api_key": api_key}))
    try:
        yield adapter
    finally:
        adapter.close()


@pytest.fixture
def provider(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> Iterator[WatsonxChatProvider]:
    with adapter_for(provider_emulator_url) as adapter:
        yield adapter


def ask(text: str, **fields: Any) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=(Message("user", (TextPart(text),)),), **fields)


def issued(url: str) -> int:
    """Tokens the emulator's IAM route has issued so far."""
    count: int = httpx.get(f"{url}/identity/_emulator/stats").json()["issued"]
    return count


def tokens_used(control: EmulatorControl) -> list[str]:
    """Fingerprints of the bearer tokens the recorded chat requests carried."""
    return [r["auth"]["token"] for r in control.requests()]


def test_plain_completion_with_system_prompt_reaches_the_watsonx_endpoint(
    provider: WatsonxChatProvider, emulator_control: EmulatorControl
) -> None:
    system = Message("system", (TextPart("You are terse."),))
    response = provider.complete(ChatRequest(MODEL, (system, *ask("hello").messages)))
    assert response.message.text == "echo: hello"
    assert response.finish_reason == "stop"
    assert response.model == MODEL
    assert response.provider_response_id and response.provider_response_id.startswith("chatcmpl-")
    [record] = emulator_control.requests()
    assert (record["protocol"], record["path"]) == ("watsonx", "/ml/v1/text/chat")
    assert record["query"] == {"version": "2024-05-31"}
    assert record["body"]["model_id"] == MODEL
    assert record["body"]["project_id"] == PROJECT
    assert record["body"]["messages"][0] == {"role": "system", "content": "You are terse."}


def test_tool_call_round_trip(
    provider: WatsonxChatProvider, emulator_control: EmulatorControl
) -> None:
    text = "What is 2 plus 4? " + directive(
        tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 4}}]
    )
    first = provider.complete(ask(text, tools=(ADD,), tool_choice="auto"))
    assert first.finish_reason == "tool_calls"
    [call] = first.message.tool_calls
    assert call.name == "add" and json.loads(call.arguments) == {"a": 2, "b": 4}
    wire = emulator_control.requests()[0]["body"]
    assert wire["tools"][0]["function"]["name"] == "add"
    assert wire["tool_choice_option"] == "auto"

    follow_up = ChatRequest(
        model=MODEL,
        tools=(ADD,),
        messages=(
            Message("user", (TextPart(text),)),
            Message("assistant", tool_calls=(ToolCall(call.id, call.name, call.arguments),)),
            Message("tool", (TextPart("6"),), tool_call_id=call.id),
        ),
    )
    second = provider.complete(follow_up)
    assert second.finish_reason == "stop"
    assert second.message.text == "tool results: 6"
    tool_message = {"role": "tool", "tool_call_id": call.id, "content": "6"}
    assert emulator_control.requests()[1]["body"]["messages"][2] == tool_message


def test_token_is_exchanged_once_and_reused(
    provider: WatsonxChatProvider, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    before = issued(provider_emulator_url)
    for _ in range(3):
        provider.complete(ask("again"))
    assert issued(provider_emulator_url) - before == 1
    assert len(set(tokens_used(emulator_control))) == 1


def test_concurrent_threads_share_one_exchange(
    provider: WatsonxChatProvider, provider_emulator_url: str
) -> None:
    before = issued(provider_emulator_url)
    threads = [threading.Thread(target=provider.complete, args=(ask("t"),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert issued(provider_emulator_url) - before == 1


def test_token_is_exchanged_again_after_expiry(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    # "ttl1-" keys get one-second tokens from the emulator's IAM route.
    before = issued(provider_emulator_url)
    with adapter_for(provider_emulator_url, api_key="ttl1-" + SECRET) as adapter:
        adapter.complete(ask("first"))
        time.sleep(1.0)
        adapter.complete(ask("second"))
    assert issued(provider_emulator_url) - before == 2
    first, second = tokens_used(emulator_control)
    assert first != second
    assert [r["status"] for r in emulator_control.requests()] == [200, 200]


def test_401_triggers_one_reexchange_then_succeeds(
    provider: WatsonxChatProvider, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    provider.complete(ask("warm up"))  # a cached token, which the service then refuses
    emulator_control.clear_requests()
    emulator_control.script({"status": 401, "error": "token revoked"})
    before = issued(provider_emulator_url)
    response = provider.complete(ask("hello"))
    assert response.message.text == "echo: hello"
    assert issued(provider_emulator_url) - before == 1
    assert [r["status"] for r in emulator_control.requests()] == [401, 200]
    refused, accepted = tokens_used(emulator_control)
    assert refused != accepted


def test_a_stream_goes_to_chat_stream_and_a_401_there_reexchanges_once(
    provider: WatsonxChatProvider, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    provider.complete(ask("warm up"))
    emulator_control.clear_requests()
    emulator_control.script({"status": 401, "error": "token revoked"})
    before = issued(provider_emulator_url)
    events = list(provider.stream(ask("hello there")))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: hello there"
    assert issued(provider_emulator_url) - before == 1
    records = emulator_control.requests()
    assert [(r["path"], r["status"], r["stream"]) for r in records] == [
        ("/ml/v1/text/chat_stream", 401, True),
        ("/ml/v1/text/chat_stream", 200, True),
    ]
    assert records[1]["query"] == {"version": "2024-05-31"}
    assert records[1]["body"]["project_id"] == PROJECT


def test_repeated_401_is_auth_failed_after_one_reexchange(
    provider: WatsonxChatProvider, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    emulator_control.script({"status": 401}, {"status": 401})
    before = issued(provider_emulator_url)
    with pytest.raises(ProviderError) as info:
        provider.complete(ask("hello"))
    assert type(info.value) is ProviderError
    assert info.value.message == AUTH_FAILED
    assert info.value.upstream_status == 401
    assert issued(provider_emulator_url) - before == 2  # the first exchange and one more
    assert len(emulator_control.requests()) == 2


def test_key_refused_by_iam_is_auth_failed_without_the_key(
    provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    key = "rejected-" + SECRET  # the emulator's IAM route refuses keys starting "rejected"
    with (
        adapter_for(provider_emulator_url, api_key=key) as adapter,
        pytest.raises(ProviderError) as info,
    ):
        adapter.complete(ask("hello"))
    error = info.value
    assert type(error) is ProviderError and not error.retryable
    assert error.message.startswith(AUTH_FAILED)
    assert "BXNIM0415E" in error.message
    assert error.upstream_status == 400
    for text in (error.message, str(error), repr(error), json.dumps(error.to_dict())):
        assert SECRET not in text
    assert error.__cause__ is None and error.__suppress_context__
    assert emulator_control.requests() == []  # never reached the chat endpoint


def test_403_is_auth_failed_without_reexchange(
    provider: WatsonxChatProvider, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    provider.complete(ask("warm up"))
    emulator_control.script({"status": 403, "error": "no access to project"})
    before = issued(provider_emulator_url)
    with pytest.raises(ProviderError) as info:
        provider.complete(ask("hello"))
    assert info.value.message == AUTH_FAILED and info.value.upstream_status == 403
    assert issued(provider_emulator_url) == before


# What a server error's message says: the provider's text, or the reason phrase without one.
SERVER_ERRORS = [
    ({"status": 500, "error": "boom"}, "the provider failed: boom"),
    ({"status": 503}, "the provider failed: Service Unavailable"),
]


@pytest.mark.parametrize(("script", "message"), SERVER_ERRORS)
def test_server_errors_say_what_the_provider_said(
    provider: WatsonxChatProvider,
    emulator_control: EmulatorControl,
    script: dict[str, Any],
    message: str,
) -> None:
    emulator_control.script(script)
    with pytest.raises(ProviderUnavailable) as info:
        provider.complete(ask("x"))
    assert message in info.value.message
    assert (info.value.upstream_status, info.value.retry_after) == (script["status"], None)


def test_an_unreachable_iam_endpoint_is_unavailable(
    provider_emulator_url: str, closed_port_url: str
) -> None:
    with (
        adapter_for(provider_emulator_url, iam_url=closed_port_url) as adapter,
        pytest.raises(ProviderUnavailable, match="connect"),
    ):
        adapter.complete(ask("x"))


def test_bearer_token_is_required_by_the_endpoint(
    provider: WatsonxChatProvider, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    provider.complete(ask("x"))  # accepted: the adapter sends an IAM-issued token
    # The same body without a token, or with the API key itself, is refused.
    body = emulator_control.requests()[0]["body"]
    url = f"{provider_emulator_url}/ml/v1/text/chat?version=2024-05-31"
    for headers in ({}, {"Authorization": f"Bearer {SECRET}"}):
        response = httpx.post(url, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == "authentication_token_expired"
