"""Every vendor the fleet worker serves, through the real stack: API -> the instance's queue
-> the fleet worker -> the vendor's adapter -> the emulator. The same checks run once per
entry of ``tests.support.fleet.FLEET_VENDORS``; each vendor's wire format (paths, bodies,
signing, tokens) is checked in its own ``test_<vendor>_stack.py``."""

from __future__ import annotations

import json

import httpx
import pytest

from emulator import EmulatorControl, directive
from tests.support.fleet import FLEET_VENDORS, FleetVendor, weather_round_trip
from tests.support.processes import Stack

MODELS = [
    pytest.param(vendor, model, id=f"{name}-{model}")
    for name, vendor in FLEET_VENDORS.items()
    for model in vendor.models
]


@pytest.fixture(params=list(FLEET_VENDORS))
def vendor(request: pytest.FixtureRequest) -> FleetVendor:
    return FLEET_VENDORS[request.param]


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


def job(client: httpx.Client, response: httpx.Response) -> dict[str, object]:
    found: dict[str, object] = client.get(
        f"/v1/jobs/{response.headers['x-llm-gateway-job-id']}"
    ).json()
    return found


@pytest.mark.parametrize(("served_by", "model"), MODELS)
def test_each_model_is_served_by_its_vendors_instance(
    client_a: httpx.Client, emulator: EmulatorControl, served_by: FleetVendor, model: str
) -> None:
    system = {"role": "system", "content": "You are terse."}
    response = served_by.chat(client_a, system, user("ping"), model=model)
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["model"] == model
    assert completion["choices"][0]["message"]["content"] == "echo: ping"
    assert completion["choices"][0]["finish_reason"] == "stop"
    [record] = emulator.requests()
    wire_model = served_by.deployments.get(model, model)
    assert (record["protocol"], record["model"]) == (served_by.protocol, wire_model)
    assert job(client_a, response)["provider"] == served_by.instance


def test_usage_in_the_result_is_the_vendors_token_counts(
    client_a: httpx.Client, emulator: EmulatorControl, vendor: FleetVendor
) -> None:
    usage = {"prompt_tokens": 13, "completion_tokens": 5}
    response = vendor.chat(client_a, user("count " + directive(usage=usage)))
    assert response.status_code == 200, response.text
    assert response.json()["usage"] == {**usage, "total_tokens": 18}


def test_tool_call_round_trip(
    client_a: httpx.Client, emulator: EmulatorControl, vendor: FleetVendor
) -> None:
    weather_round_trip(lambda *messages, **fields: vendor.chat(client_a, *messages, **fields))
    asked, answered = emulator.requests()
    assert (asked["protocol"], answered["protocol"]) == (vendor.protocol, vendor.protocol)
    assert (answered["turn"], answered["tool_results"]) == (1, ["18C and sunny"])


def test_a_rejected_request_keeps_the_vendors_message_without_key_material(
    client_a: httpx.Client, emulator: EmulatorControl, stack: Stack, vendor: FleetVendor
) -> None:
    secret = vendor.secret(stack)
    text = directive(status=400, error=f"Request contains an invalid argument: {secret}")
    response = vendor.chat(client_a, user(text))
    assert response.status_code == 400, response.text
    assert not secret or secret not in response.text
    error = response.json()["error"]
    assert error["type"] == "provider_rejected"
    assert "Request contains an invalid argument" in error["message"]
    failed = job(client_a, response)
    assert (failed["status"], failed["provider"], failed["attempts"]) == (
        "failed",
        vendor.instance,
        1,
    )
    assert isinstance(failed["error"], dict)
    assert (failed["error"]["provider"], failed["error"]["upstream_status"]) == (
        vendor.instance,
        400,
    )
    assert not secret or secret not in json.dumps(failed["error"])
    assert len(emulator.requests()) == 1  # the caller's fault: not retried


def test_an_auth_failure_is_a_502_that_never_shows_the_key(
    client_a: httpx.Client, emulator: EmulatorControl, stack: Stack, vendor: FleetVendor
) -> None:
    secret = vendor.secret(stack)
    response = vendor.chat(client_a, user(directive(status=401, error=f"bad key {secret}")))
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert (error["type"], error["message"]) == ("provider_error", "provider authentication failed")
    assert not secret or secret not in response.text
    assert job(client_a, response)["attempts"] == 1  # the operator's fault: not retried


def test_a_rate_limited_answer_is_retried_then_succeeds(
    client_a: httpx.Client, emulator: EmulatorControl, vendor: FleetVendor
) -> None:
    emulator.script({"status": 429, "error": "Resource exhausted", "retry_after": 0})
    response = vendor.chat(client_a, user("again"))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: again"
    assert [r["status"] for r in emulator.requests()] == [429, 200]


def test_a_failing_vendor_is_retried_then_a_502(
    client_a: httpx.Client, emulator: EmulatorControl, vendor: FleetVendor
) -> None:
    emulator.script(*[{"status": 500, "error": "runner process has terminated"}] * 3)
    response = vendor.chat(client_a, user("hi"))
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["type"] == "provider_unavailable"
    assert "runner process has terminated" in error["message"]
    assert [r["status"] for r in emulator.requests()] == [500, 500, 500]


@pytest.mark.parametrize(
    "vendor", [name for name, v in FLEET_VENDORS.items() if v.image_link_refusal], indirect=True
)
def test_an_image_link_is_refused_before_anything_is_queued_where_only_inline_images_go(
    client_a: httpx.Client, emulator: EmulatorControl, vendor: FleetVendor
) -> None:
    assert vendor.image_link_refusal is not None
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    response = vendor.chat(client_a, user(parts))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == vendor.image_link_param
    assert vendor.image_link_refusal in error["message"]
    assert emulator.requests() == []
