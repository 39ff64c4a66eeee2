"""The Anthropic adapter's own wire format against the emulator, through the official SDK.
What every adapter does is checked in ``test_adapter_contract.py``; the Messages body
mapping itself in ``test_anthropic_messages.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator import EmulatorControl
from providers.base import Provider
from providers.types import Message, TextPart
from tests.support.vendors import VendorKit, anthropic, ask, user


@pytest.fixture(scope="module")
def kit(provider_emulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> VendorKit:
    return anthropic(provider_emulator_url, tmp_path_factory.mktemp("anthropic"))


@pytest.fixture
def provider(kit: VendorKit, emulator_control: EmulatorControl) -> Iterator[Provider]:
    adapter = kit.build()
    yield adapter
    adapter.close()


def last_body(control: EmulatorControl) -> dict[str, Any]:
    body: dict[str, Any] = control.requests()[-1]["body"]
    return body


def test_system_prompt_travels_in_the_system_field(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    ask(provider, kit.model, Message("system", (TextPart("Be terse."),)), user("Hi"))
    body = last_body(emulator_control)
    assert body["system"] == "Be terse."
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_max_tokens_is_sent_as_max_tokens(
    provider: Provider, kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    ask(provider, kit.model, user("x"), max_tokens=33)
    assert last_body(emulator_control)["max_tokens"] == 33


def test_the_configured_default_max_tokens_is_sent_when_the_request_sets_none(
    kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    adapter = kit.build(options={"default_max_tokens": "256"})
    ask(adapter, kit.model, user("x"))
    adapter.close()
    assert last_body(emulator_control)["max_tokens"] == 256


def test_an_instance_without_credential_sources_sends_a_placeholder_the_emulator_accepts(
    kit: VendorKit, emulator_control: EmulatorControl
) -> None:
    adapter = kit.build(api_key_env=None)
    assert ask(adapter, kit.model, user("hi")).message.text == "echo: hi"
    adapter.close()
