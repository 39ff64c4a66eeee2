"""The emulated OpenAI chat API's parameters beyond the messages, through the official SDK:
malformed ones are OpenAI's 400 naming the parameter, ``response_format`` shapes the
reply, ``logprobs`` come back in OpenAI's shape (whole and streamed), ``service_tier``
and a seeded request's fingerprint are echoed."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from emulator import EmulatorControl

MESSAGES: Any = [{"role": "user", "content": "the weather, please"}]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}},
            "response_format.json_schema.name",
        ),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"seed": "42"}, "seed"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),  # without logprobs: true
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": "high"}, "frequency_penalty"),
        ({"logit_bias": {"50256": 101}}, "logit_bias"),
        ({"logit_bias": {"word": 1}}, "logit_bias"),
        ({"parallel_tool_calls": "no"}, "parallel_tool_calls"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"service_tier": "gold"}, "service_tier"),
        ({"metadata": {"n": 1}}, "metadata.n"),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata"),
    ],
)
def test_malformed_parameters_are_openais_400_naming_them(
    oai: openai.OpenAI, control: EmulatorControl, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_body=fields)
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_well_formed_parameters_are_accepted_and_recorded(
    oai: openai.OpenAI, control: EmulatorControl
) -> None:
    fields: dict[str, Any] = {
        "seed": 7,
        "presence_penalty": -2,
        "frequency_penalty": 2,
        "logit_bias": {"50256": -100},
        "parallel_tool_calls": False,
        "reasoning_effort": "low",
        "service_tier": "flex",
        "metadata": {"team": "a"},
    }
    oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **fields)
    [record] = control.requests()
    assert {k: record["body"][k] for k in fields} == fields


def test_json_schema_reply_is_an_instance_of_the_schema(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
        },
    )
    reply = json.loads(completion.choices[0].message.content or "")
    assert set(reply) == {"city", "celsius"}
    assert isinstance(reply["city"], str) and isinstance(reply["celsius"], int | float)


def test_json_object_reply_is_a_json_object(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_logprobs_cover_the_reply_with_the_asked_alternatives(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, logprobs=True, top_logprobs=3
    )
    choice = completion.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    assert "".join(e.token for e in choice.logprobs.content) == choice.message.content
    for entry in choice.logprobs.content:
        assert entry.logprob <= 0 and entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 3 and entry.top_logprobs[0].token == entry.token


def test_logprobs_are_null_unless_asked(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].logprobs is None


def test_streamed_chunks_carry_the_logprobs_of_their_text(oai: openai.OpenAI) -> None:
    text, tokens = [], []
    for chunk in oai.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, logprobs=True, stream=True
    ):
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.delta.content:
            text.append(choice.delta.content)
            assert choice.logprobs is not None and choice.logprobs.content
            tokens += [e.token for e in choice.logprobs.content]
    assert "".join(tokens) == "".join(text) == "echo: the weather, please"


def test_service_tier_and_a_seeds_fingerprint_are_echoed(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, seed=1, service_tier="auto"
    )
    assert completion.service_tier == "default"
    assert completion.system_fingerprint
