"""OCI Generative AI through the real stack: API -> queue llm.oci -> fleet worker -> the
``oci`` SDK, signing with the key file and fingerprint ``emulator/local_env.py`` generated
-> the emulator's ``/20231130/actions/chat``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
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
    completion = response.json()
    assert completion["model"] == MODEL
    assert completion["choices"][0]["message"]["content"] == "echo: ping"
    assert completion["choices"][0]["finish_reason"] == "stop"
    (record,) = emulator.requests()
    assert (record["protocol"], record["path"], record["model"]) == (
        "oci",
        "/20231130/actions/chat",
        MODEL,
    )
    assert record["auth"]["key_id"] == key_id
    assert stack.env["OCI_KEY_FINGERPRINT"] in key_id
    body = record["body"]
    assert body["servingMode"] == {"servingType": "ON_DEMAND", "modelId": MODEL}
    assert body["chatRequest"]["messages"][0] == {
        "role": "SYSTEM",
        "content": [{"type": "TEXT", "text": "You are terse."}],
    }


def test_usage_in_the_result_is_ocis_token_counts(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    usage = {"prompt_tokens": 13, "completion_tokens": 5}
    response = chat(
        client_a, {"role": "user", "content": "hi " + directive(usage=usage)}, model="xai.grok-3"
    )
    assert response.status_code == 200, response.text
    assert response.json()["usage"] == {**usage, "total_tokens": 18}
    assert emulator.requests()[-1]["model"] == "xai.grok-3"


def test_tool_call_round_trip_through_oci(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    call = weather_round_trip(lambda *messages, **fields: chat(client_a, *messages, **fields))
    asked, record = emulator.requests()
    tool = asked["body"]["chatRequest"]["tools"][0]
    assert (tool["type"], tool["parameters"]["required"]) == ("FUNCTION", ["city"])
    assert (record["turn"], record["tool_results"]) == (1, ["18C and sunny"])
    assert record["body"]["chatRequest"]["messages"][2]["toolCallId"] == call["id"]


def test_an_invalid_parameter_is_a_provider_rejection_without_the_private_key(
    client_a: httpx.Client, emulator: EmulatorControl, stack: Stack
) -> None:
    key_line = Path(stack.env["OCI_PRIVATE_KEY_FILE"]).read_text().splitlines()[2]
    text = directive(status=400, error=f"Invalid maxTokens, key {key_line}")
    response = chat(client_a, {"role": "user", "content": text})
    assert response.status_code == 400, response.text
    assert key_line not in response.text
    error = response.json()["error"]
    assert error["type"] == "provider_rejected"
    assert "Invalid maxTokens" in error["message"]
    job_id = response.headers["x-llm-gateway-job-id"]
    job_error = client_a.get(f"/v1/jobs/{job_id}").json()["error"]
    assert (job_error["provider"], job_error["upstream_status"]) == ("oci", 400)
    assert key_line not in json.dumps(job_error)
    assert len(emulator.requests()) == 1  # a rejection is not retried


def test_a_not_authenticated_answer_is_a_provider_auth_failure(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    text = directive(status=401, error="The required information was not provided")
    response = chat(client_a, {"role": "user", "content": text})
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert (error["type"], error["message"]) == ("provider_error", "provider authentication failed")


def test_an_image_link_is_refused_by_the_oci_check_before_anything_is_queued(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    response = chat(client_a, {"role": "user", "content": [image]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "data: URLs" in error["message"]
    assert emulator.requests() == []
