"""OCI Generative AI through the real stack: API -> queue llm.oci -> fleet worker -> the
``oci`` SDK, signing with the key file and fingerprint ``emulator/local_env.py`` generated
-> the emulator's ``/20231130/actions/chat``. What every fleet vendor does is checked in
``test_stack_all_vendors.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl
from providers.config import load_providers
from tests.support.fleet import weather_round_trip
from tests.support.processes import Stack

MODEL = "meta.llama-3.3-70b-instruct"  # served by the oci instance only


@pytest.fixture
def key_id(stack: Stack) -> str:
    """The keyId the oci instance must sign with: tenancy/user/fingerprint as configured."""
    providers = load_providers(Path(stack.env["LLM_GATEWAY_PROVIDERS_FILE"]), stack.env)
    options = providers.instances["oci"].options
    return f"{options['tenancy']}/{options['user']}/{options['fingerprint']}"


def chat(client: httpx.Client, *messages: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {"model": fields.pop("model", MODEL), "messages": list(messages), **fields}
    return client.post("/v1/chat/completions", json=body)


def test_completion_is_served_by_oci_over_a_signed_request(
    client_a: httpx.Client, emulator: EmulatorControl, stack: Stack, key_id: str
) -> None:
    response = chat(
        client_a,
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "ping"},
    )
    assert response.status_code == 200, response.text
    (record,) = emulator.requests()
    assert record["path"] == "/20231130/actions/chat"
    assert record["auth"]["key_id"] == key_id
    assert stack.env["OCI_KEY_FINGERPRINT"] in key_id
    body = record["body"]
    assert body["servingMode"] == {"servingType": "ON_DEMAND", "modelId": MODEL}
    assert body["chatRequest"]["messages"][0] == {
        "role": "SYSTEM",
        "content": [{"type": "TEXT", "text": "You are terse."}],
    }


def test_tool_call_round_trip_through_oci(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    call = weather_round_trip(lambda *messages, **fields: chat(client_a, *messages, **fields))
    asked, record = emulator.requests()
    tool = asked["body"]["chatRequest"]["tools"][0]
    assert (tool["type"], tool["parameters"]["required"]) == ("FUNCTION", ["city"])
    assert (record["turn"], record["tool_results"]) == (1, ["18C and sunny"])
    assert record["body"]["chatRequest"]["messages"][2]["toolCallId"] == call["id"]
