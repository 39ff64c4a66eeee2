"""OpenAI's chat parameters end to end with the official ``openai`` SDK: structured
outputs (``chat.completions.parse`` with a pydantic model) on OpenAI and Azure OpenAI,
``seed`` and ``logprobs`` reaching the emulator and logprobs coming back (whole, streamed,
on the job's record, and from Ollama's own shape), and a malformed ``response_format``
refused before anything is queued."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from emulator import EmulatorControl
from tests.api.test_errors import assert_error
from tests.conftest import KEY_A
from tests.support.processes import Stack

INSTANCES = ["openai", "azure"]
MESSAGES: Any = [{"role": "user", "content": "Weather in Paris, as JSON."}]


class Weather(BaseModel):
    city: str
    celsius: float
    sunny: bool


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as client:
        yield client


@pytest.mark.parametrize("instance", INSTANCES)
def test_parse_with_a_pydantic_model_returns_an_instance(
    sdk: openai.OpenAI, emulator: EmulatorControl, instance: str
) -> None:
    completion = sdk.chat.completions.parse(
        model="gpt-4o-mini",
        messages=MESSAGES,
        response_format=Weather,
        extra_body={"provider": instance},
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Weather)
    [record] = emulator.requests()
    sent = record["body"]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Weather"
    assert sent["json_schema"]["strict"] is True
    assert set(sent["json_schema"]["schema"]["properties"]) == {"city", "celsius", "sunny"}


@pytest.mark.parametrize("instance", INSTANCES)
def test_seed_and_logprobs_reach_the_vendor_and_logprobs_come_back(
    sdk: openai.OpenAI, emulator: EmulatorControl, instance: str
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        seed=4242,
        logprobs=True,
        top_logprobs=2,
        extra_body={"provider": instance},
    )
    completion = raw.parse()
    [record] = emulator.requests()
    assert (record["body"]["seed"], record["body"]["logprobs"]) == (4242, True)
    assert record["body"]["top_logprobs"] == 2
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert "".join(e.token for e in logprobs.content) == completion.choices[0].message.content
    assert all(len(e.top_logprobs) == 2 for e in logprobs.content)
    # The job's record keeps them as the chat endpoint answered them.
    job_id = raw.headers["x-llm-gateway-job-id"]
    job = httpx.get(
        f"{sdk.base_url}jobs/{job_id}", headers={"Authorization": f"Bearer {KEY_A}"}
    ).json()
    assert job["result"]["logprobs"] == logprobs.model_dump()


def test_logprobs_are_null_unless_asked(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].logprobs is None


@pytest.mark.parametrize("instance", INSTANCES)
def test_streamed_chunks_carry_the_logprobs_of_their_text(
    sdk: openai.OpenAI, instance: str
) -> None:
    text, tokens = [], []
    for chunk in sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        logprobs=True,
        stream=True,
        extra_body={"provider": instance},
    ):
        choice = chunk.choices[0] if chunk.choices else None
        if choice is not None and choice.delta.content:
            text.append(choice.delta.content)
            assert choice.logprobs is not None and choice.logprobs.content
            tokens += [e.token for e in choice.logprobs.content]
    assert "".join(tokens) == "".join(text) == "echo: Weather in Paris, as JSON."


@pytest.mark.parametrize("stream", [False, True])
def test_ollamas_logprobs_come_back_in_openais_shape(
    sdk: openai.OpenAI, emulator: EmulatorControl, stream: bool
) -> None:
    body = {"provider": "ollama", "top_logprobs": 1}
    if stream:
        tokens = [
            entry.token
            for chunk in sdk.chat.completions.create(
                model="llama3.2", messages=MESSAGES, logprobs=True, stream=True, extra_body=body
            )
            if chunk.choices and chunk.choices[0].logprobs
            for entry in chunk.choices[0].logprobs.content or []
        ]
    else:
        completion = sdk.chat.completions.create(
            model="llama3.2", messages=MESSAGES, logprobs=True, extra_body=body
        )
        assert completion.choices[0].logprobs is not None
        tokens = [e.token for e in completion.choices[0].logprobs.content or []]
    assert "".join(tokens) == "echo: Weather in Paris, as JSON."
    [record] = emulator.requests()
    assert (record["body"]["logprobs"], record["body"]["top_logprobs"]) == (True, 1)


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
        {"type": "json_schema"},
        {"type": "xml"},
        {"type": "json_schema", "json_schema": {"name": "w", "schema": []}},
    ],
    ids=["no-name", "no-json-schema", "unknown-type", "schema-not-object"],
)
def test_a_malformed_response_format_is_refused_before_queueing(
    client_a: httpx.Client, emulator: EmulatorControl, response_format: dict[str, Any]
) -> None:
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "response_format": response_format}
    response = client_a.post("/v1/chat/completions", json=body)
    assert response.status_code in (400, 422), response.text
    error = assert_error(response, response.status_code, response.json()["error"]["type"])
    assert str(error["param"]).startswith("response_format")
    assert emulator.requests() == []
    assert client_a.get("/v1/jobs").json()["data"] == []
