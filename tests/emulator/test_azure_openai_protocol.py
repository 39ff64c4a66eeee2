"""The emulated Azure OpenAI endpoint at the HTTP level: what it refuses (no api-version, no
credential, OpenAI's ``x-api-key``), how it records the call, and the managed-identity token
endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from emulator import EmulatorControl
from emulator.protocols.azure_openai import MANAGED_IDENTITY_PATH

PATH = "/openai/deployments/gpt-4o-prod/chat/completions"
BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def http(emulator_url: str, control: EmulatorControl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield client


def post(
    http: httpx.Client, headers: dict[str, str], query: str = "?api-version=2024-10-21"
) -> httpx.Response:
    return http.post(PATH + query, json=BODY, headers=headers)


def test_missing_api_version_is_azures_bare_404(
    http: httpx.Client, control: EmulatorControl
) -> None:
    response = post(http, {"api-key": "k"}, query="")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert control.requests()[-1]["query"] == {}


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "k"}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer"}],
    ids=["none", "openai-style-x-api-key", "basic-auth", "bearer-without-token"],
)
def test_requests_without_an_azure_credential_are_401(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    response = post(http, headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "401" and error["message"].startswith("Access denied")


@pytest.mark.parametrize(
    ("headers", "scheme"),
    [({"api-key": "k"}, "api-key"), ({"authorization": "Bearer eyJ0.x.y"}, "bearer")],
)
def test_the_deployment_names_the_model_and_the_scheme_is_recorded(
    http: httpx.Client, control: EmulatorControl, headers: dict[str, str], scheme: str
) -> None:
    response = post(http, headers)
    assert response.status_code == 200
    assert response.headers["apim-request-id"]
    completion: dict[str, Any] = response.json()
    assert completion["model"] == "gpt-4o-prod"
    assert (
        completion["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"]
        is False
    )
    assert completion["choices"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    record = control.requests()[-1]
    assert (record["protocol"], record["model"], record["auth"]) == (
        "azure_openai",
        "gpt-4o-prod",
        {"scheme": scheme},
    )
    assert record["query"] == {"api-version": "2024-10-21"}


def test_the_sdk_streams_from_a_deployment(emulator_url: str, control: EmulatorControl) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=emulator_url, api_version="2024-10-21", api_key="k", max_retries=0
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini-prod", messages=[{"role": "user", "content": "stream me"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    client.close()
    assert text == "echo: stream me"
    assert control.requests()[-1]["path"] == "/openai/deployments/gpt-4o-mini-prod/chat/completions"


def test_rate_limits_use_azures_gateway_error_shape(http: httpx.Client) -> None:
    content = 'slow down <<emulator:{"status": 429, "retry_after": 3, "error": "Rate limit"}>>'
    response = http.post(
        PATH + "?api-version=2024-10-21",
        json={"messages": [{"role": "user", "content": content}]},
        headers={"api-key": "k"},
    )
    assert (response.status_code, response.headers["retry-after"]) == (429, "3")
    assert response.json() == {"error": {"code": "429", "message": "Rate limit"}}


def test_managed_identity_endpoint_issues_a_token(http: httpx.Client) -> None:
    resource = "https://cognitiveservices.azure.com"
    params = {"api-version": "2019-08-01", "resource": resource}
    refused = http.get(MANAGED_IDENTITY_PATH, params=params)
    assert refused.status_code == 400
    granted = http.get(MANAGED_IDENTITY_PATH, params=params, headers={"X-IDENTITY-HEADER": "h"})
    token = granted.json()
    assert granted.status_code == 200
    assert (token["resource"], token["token_type"]) == (resource, "Bearer")
    assert token["access_token"] and token["expires_on"].isdigit()
