"""Structured outputs end to end on the vendors without OpenAI's ``response_format``: the
official ``openai`` SDK's ``chat.completions.parse`` (and ``stream``) with a pydantic model,
and JSON mode, pinned to an Anthropic, a Bedrock and a Vertex instance. Each vendor gets the
request in its own shape (structured output, a forced tool, ``responseSchema``) and the
caller gets OpenAI's answer: the JSON as the content, no tool call, finish reason stop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from emulator import EmulatorControl
from tests.conftest import KEY_A
from tests.support.processes import Stack


class Weather(BaseModel):
    city: str
    celsius: float


Check = Callable[[dict[str, Any]], bool]

# instance, model, how the wire body asks for the schema, how it asks for JSON mode
TARGETS = [
    pytest.param(
        "anthropic",
        "claude-haiku-4-5",
        lambda b: b["output_config"]["format"]["schema"]["title"] == "Weather",
        lambda b: b["tool_choice"] == {"type": "tool", "name": "json_output"},
        id="anthropic",
    ),
    pytest.param(
        "bedrock-us",
        "meta.llama3-3-70b-instruct-v1:0",
        lambda b: (
            '"Weather"' in b["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]
        ),
        lambda b: b["toolConfig"]["toolChoice"] == {"tool": {"name": "json_output"}},
        id="bedrock",
    ),
    pytest.param(
        "vertex",
        "gemini-2.5-flash",
        lambda b: b["generationConfig"]["responseSchema"]["title"] == "Weather",
        lambda b: b["generationConfig"] == {"responseMimeType": "application/json"},
        id="vertex",
    ),
]
QUESTION = [{"role": "user", "content": "The weather in Oslo, as JSON."}]


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as client:
        yield client


def wire_body(emulator: EmulatorControl) -> dict[str, Any]:
    [record] = emulator.requests()
    body: dict[str, Any] = record["body"]
    return body


@pytest.mark.parametrize(("instance", "model", "asks_schema", "asks_json"), TARGETS)
def test_parse_with_a_pydantic_model_returns_an_instance(
    sdk: openai.OpenAI,
    emulator: EmulatorControl,
    instance: str,
    model: str,
    asks_schema: Check,
    asks_json: Check,
) -> None:
    completion = sdk.chat.completions.parse(
        model=model, messages=QUESTION, response_format=Weather, extra_body={"provider": instance}
    )
    [choice] = completion.choices
    assert choice.message.parsed == Weather(city="text", celsius=0.0)
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert asks_schema(wire_body(emulator))


@pytest.mark.parametrize(("instance", "model", "asks_schema", "asks_json"), TARGETS)
def test_a_streamed_parse_returns_an_instance(
    sdk: openai.OpenAI,
    emulator: EmulatorControl,
    instance: str,
    model: str,
    asks_schema: Check,
    asks_json: Check,
) -> None:
    with sdk.chat.completions.stream(
        model=model, messages=QUESTION, response_format=Weather, extra_body={"provider": instance}
    ) as stream:
        completion = stream.get_final_completion()
    [choice] = completion.choices
    assert choice.message.parsed == Weather(city="text", celsius=0.0)
    assert choice.finish_reason == "stop"
    assert asks_schema(wire_body(emulator))


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("instance", "model", "asks_schema", "asks_json"), TARGETS)
def test_json_mode_answers_a_json_object_as_the_content(
    sdk: openai.OpenAI,
    emulator: EmulatorControl,
    instance: str,
    model: str,
    asks_schema: Check,
    asks_json: Check,
    streamed: bool,
) -> None:
    asked: dict[str, Any] = {
        "model": model,
        "messages": QUESTION,
        "response_format": {"type": "json_object"},
        "extra_body": {"provider": instance},
    }
    if streamed:
        chunks = list(sdk.chat.completions.create(**asked, stream=True))
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        [choice] = sdk.chat.completions.create(**asked).choices
        assert not choice.message.tool_calls
        content, finish = choice.message.content or "", choice.finish_reason
    assert json.loads(content) == {"echo": "The weather in Oslo, as JSON."}
    assert finish == "stop"
    assert asks_json(wire_body(emulator))
