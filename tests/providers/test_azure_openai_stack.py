"""The shipped ``azure`` instance through the real stack: API, queue ``llm.azure``, the fleet
worker, the Azure OpenAI adapter and the emulator's deployment endpoint.

``gpt-4o`` and ``gpt-4o-mini`` are served by ``openai`` first (priority 0); a request's
``provider`` field (an instance name or a provider type) pins it to Azure, where the model
becomes its deployment (``gpt-4o-prod``, ``gpt-4o-mini-prod``). What every fleet vendor
does is checked in ``test_stack_all_vendors.py``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator import EmulatorControl


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
    [record] = emulator.requests()
    assert record["path"] == f"/openai/deployments/{deployment}/chat/completions"
    assert (record["query"], record["auth"]) == (
        {"api-version": "2024-10-21"},
        {"scheme": "api-key"},
    )


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
