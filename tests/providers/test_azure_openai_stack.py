"""The shipped ``azure`` instance through the real stack: API, queue ``llm.azure``, the fleet
worker, the Azure OpenAI adapter and the emulator's deployment endpoint.

``gpt-4o`` and ``gpt-4o-mini`` are served by ``openai`` first (priority 0); a request's
``provider`` field (an instance name or a provider type) pins it to Azure, where the model
becomes its deployment (``gpt-4o-prod``, ``gpt-4o-mini-prod``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from tests.conftest import AZURE_SECRET
from tests.support.fleet import weather_round_trip


def complete(client: httpx.Client, *messages: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {"model": "gpt-4o", "provider": "azure", "messages": list(messages), **fields}
    return client.post("/v1/chat/completions", json=body)


def user(content: str) -> dict[str, Any]:
    return {"role": "user", "content": content}


@pytest.mark.parametrize(
    ("model", "deployment"), [("gpt-4o", "gpt-4o-prod"), ("gpt-4o-mini", "gpt-4o-mini-prod")]
)
def test_completion_pinned_to_azure_runs_on_the_models_deployment(
    client_a: httpx.Client, emulator: EmulatorControl, model: str, deployment: str
) -> None:
    response = complete(client_a, user("ping"), model=model)
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["model"] == model
    assert completion["choices"][0]["message"]["content"] == "echo: ping"
    [record] = emulator.requests()
    assert record["protocol"] == "azure_openai"
    assert record["path"] == f"/openai/deployments/{deployment}/chat/completions"
    assert (record["query"], record["auth"]) == (
        {"api-version": "2024-10-21"},
        {"scheme": "api-key"},
    )
    job = client_a.get(f"/v1/jobs/{response.headers['x-llm-gateway-job-id']}").json()
    assert job["provider"] == "azure"


def test_the_provider_type_pins_to_azure_too(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    response = complete(client_a, user("ping"), provider="azure_openai")
    assert response.status_code == 200, response.text
    assert emulator.requests()[-1]["protocol"] == "azure_openai"


def test_without_a_pin_gpt_4o_prefers_openai(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    response = client_a.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": [user("hi")]}
    )
    assert response.status_code == 200, response.text
    assert emulator.requests()[-1]["protocol"] == "openai"


def test_system_prompt_reaches_the_deployment(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    response = complete(client_a, {"role": "system", "content": "You are terse."}, user("hi"))
    assert response.status_code == 200, response.text
    messages = emulator.requests()[-1]["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "You are terse."}


def test_tool_call_round_trip(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    weather_round_trip(lambda *messages, **fields: complete(client_a, *messages, **fields))
    assert [r["protocol"] for r in emulator.requests()] == ["azure_openai", "azure_openai"]


def test_usage_is_the_deployments_token_counts(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    script = directive(usage={"prompt_tokens": 21, "completion_tokens": 8})
    response = complete(client_a, user(f"count {script}"))
    assert response.status_code == 200, response.text
    assert response.json()["usage"] == {
        "prompt_tokens": 21,
        "completion_tokens": 8,
        "total_tokens": 29,
    }


def test_a_rejected_request_keeps_azures_message(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    filtered = (
        "The response was filtered due to the prompt triggering the content management policy."
    )
    response = complete(client_a, user(directive(status=400, error=filtered)))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["message"]) == ("provider_rejected", filtered)
    assert len(emulator.requests()) == 1  # the caller's fault: not retried


def test_an_auth_failure_is_a_502_that_never_shows_the_key(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    response = complete(client_a, user(directive(status=401, error=f"bad key {AZURE_SECRET}")))
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "provider authentication failed"
    assert AZURE_SECRET not in response.text
