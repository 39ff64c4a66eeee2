"""Every cell of the parameter x provider table (``providers.parameters``), through the real
stack: a request using the parameter, pinned to the type's instance, either reaches the
emulator in the vendor's own shape (``native``, ``emulated``), reaches it without the
parameter while the job keeps it (``gateway``), or is refused with a 400 naming the
parameter and the instance before anything is queued (``refused``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl
from providers.parameters import PARAMETERS, SUPPORT, Support, support
from tests.api.test_errors import assert_error
from tests.support.fleet import WEATHER_TOOL


@dataclass(frozen=True)
class Target:
    instance: str
    model: str


TARGETS: Mapping[str, Target] = {
    "openai": Target("openai", "gpt-4o-mini"),
    "azure_openai": Target("azure", "gpt-4o-mini"),
    "anthropic": Target("anthropic", "claude-haiku-4-5"),
    "bedrock": Target("bedrock-us", "meta.llama3-3-70b-instruct-v1:0"),
    "vertex": Target("vertex", "gemini-2.5-flash"),
    "ollama": Target("ollama", "llama3.2"),
    "watsonx": Target("watsonx", "ibm/granite-3-8b-instruct"),
    "oci": Target("oci", "meta.llama-3.3-70b-instruct"),
}

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}
TOOLS = {"tools": [WEATHER_TOOL]}

# What a request adds to use each row of the table.
SAMPLES: Mapping[str, dict[str, Any]] = {
    "temperature": {"temperature": 0.25},
    "top_p": {"top_p": 0.5},
    "max_tokens": {"max_tokens": 77},
    "stop": {"stop": ["STOP-HERE"]},
    "tool_choice: none": {**TOOLS, "tool_choice": "none"},
    "tool_choice: required": {**TOOLS, "tool_choice": "required"},
    "tool_choice: a function": {
        **TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    },
    "parallel_tool_calls": {**TOOLS, "parallel_tool_calls": False},
    "response_format: json_object": {"response_format": {"type": "json_object"}},
    "response_format: json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
        }
    },
    "seed": {"seed": 4242},
    "logprobs": {"logprobs": True},
    "top_logprobs": {"logprobs": True, "top_logprobs": 3},
    "presence_penalty": {"presence_penalty": 0.75},
    "frequency_penalty": {"frequency_penalty": -0.5},
    "logit_bias": {"logit_bias": {"50256": -100}},
    "reasoning_effort": {"reasoning_effort": "low"},
    "service_tier": {"service_tier": "flex"},
    "user": {"user": "user-probe-7"},
    "metadata": {"metadata": {"probe": "metadata-probe-9"}},
}

Check = Callable[[dict[str, Any]], bool]


def _field(name: str, value: object) -> Check:
    return lambda body: body.get(name) == value


# How each type's wire body shows each carried row (``native`` or ``emulated``). A type's
# adapter owner keeps its block complete: a carried cell without a check fails.
_OPENAI_WIRE: Mapping[str, Check] = {
    "temperature": _field("temperature", 0.25),
    "top_p": _field("top_p", 0.5),
    "max_tokens": lambda b: 77 in (b.get("max_completion_tokens"), b.get("max_tokens")),
    "stop": _field("stop", ["STOP-HERE"]),
    "tool_choice: none": _field("tool_choice", "none"),
    "tool_choice: required": _field("tool_choice", "required"),
    "tool_choice: a function": _field(
        "tool_choice", {"type": "function", "function": {"name": "get_weather"}}
    ),
    "parallel_tool_calls": _field("parallel_tool_calls", False),
    "response_format: json_object": _field("response_format", {"type": "json_object"}),
    "response_format: json_schema": _field(
        "response_format",
        {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
        },
    ),
    "seed": _field("seed", 4242),
    "logprobs": _field("logprobs", True),
    "top_logprobs": lambda b: b.get("logprobs") is True and b.get("top_logprobs") == 3,
    "presence_penalty": _field("presence_penalty", 0.75),
    "frequency_penalty": _field("frequency_penalty", -0.5),
    "logit_bias": _field("logit_bias", {"50256": -100}),
    "reasoning_effort": _field("reasoning_effort", "low"),
    "service_tier": _field("service_tier", "flex"),
    "user": _field("user", "user-probe-7"),
    "metadata": _field("metadata", {"probe": "metadata-probe-9"}),
}


def _option(name: str, value: object) -> Check:
    return lambda body: (body.get("options") or {}).get(name) == value


def _chat(name: str, value: object) -> Check:
    return lambda body: (body.get("chatRequest") or {}).get(name) == value


_OLLAMA_WIRE: Mapping[str, Check] = {
    "temperature": _option("temperature", 0.25),
    "top_p": _option("top_p", 0.5),
    "max_tokens": _option("num_predict", 77),
    "stop": _option("stop", ["STOP-HERE"]),
    # No tool_choice: "none" leaves the tools out, so the model cannot call one.
    "tool_choice: none": lambda b: "tools" not in b,
    "response_format: json_object": _field("format", "json"),
    "response_format: json_schema": _field("format", SCHEMA),
    "seed": _option("seed", 4242),
    "logprobs": _field("logprobs", True),
    "top_logprobs": lambda b: b.get("logprobs") is True and b.get("top_logprobs") == 3,
    "presence_penalty": _option("presence_penalty", 0.75),
    "frequency_penalty": _option("frequency_penalty", -0.5),
    "reasoning_effort": _field("think", "low"),
}

_WATSONX_WIRE: Mapping[str, Check] = {
    "temperature": _field("temperature", 0.25),
    "top_p": _field("top_p", 0.5),
    "max_tokens": _field("max_tokens", 77),
    "stop": _field("stop", ["STOP-HERE"]),
    "tool_choice: none": _field("tool_choice_option", "none"),
    "tool_choice: required": _field("tool_choice_option", "required"),
    "tool_choice: a function": _field(
        "tool_choice", {"type": "function", "function": {"name": "get_weather"}}
    ),
    "response_format: json_object": _field("response_format", {"type": "json_object"}),
    "response_format: json_schema": _field(
        "response_format",
        {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
        },
    ),
    "seed": _field("seed", 4242),
    "presence_penalty": _field("presence_penalty", 0.75),
    "frequency_penalty": _field("frequency_penalty", -0.5),
    "logit_bias": _field("logit_bias", {"50256": -100}),
    "reasoning_effort": _field("reasoning_effort", "low"),
}

_OCI_WIRE: Mapping[str, Check] = {
    "temperature": _chat("temperature", 0.25),
    "top_p": _chat("topP", 0.5),
    "max_tokens": _chat("maxTokens", 77),
    "stop": _chat("stop", ["STOP-HERE"]),
    "tool_choice: none": _chat("toolChoice", {"type": "NONE"}),
    "tool_choice: required": _chat("toolChoice", {"type": "REQUIRED"}),
    "tool_choice: a function": _chat("toolChoice", {"type": "FUNCTION", "name": "get_weather"}),
    "parallel_tool_calls": _chat("isParallelToolCalls", False),
    "response_format: json_object": _chat("responseFormat", {"type": "JSON_OBJECT"}),
    "response_format: json_schema": _chat(
        "responseFormat",
        {
            "type": "JSON_SCHEMA",
            "jsonSchema": {"name": "weather", "schema": SCHEMA, "isStrict": True},
        },
    ),
    "seed": _chat("seed", 4242),
    "presence_penalty": _chat("presencePenalty", 0.75),
    "frequency_penalty": _chat("frequencyPenalty", -0.5),
    "logit_bias": _chat("logitBias", {"50256": -100}),
    "reasoning_effort": _chat("reasoningEffort", "LOW"),
    "metadata": _chat("metadata", {"probe": "metadata-probe-9"}),
}

WIRE: Mapping[str, Mapping[str, Check]] = {
    "openai": _OPENAI_WIRE,
    "azure_openai": _OPENAI_WIRE,
    "ollama": _OLLAMA_WIRE,
    "watsonx": _WATSONX_WIRE,
    "oci": _OCI_WIRE,
}

CELLS = [
    pytest.param(provider_type, row, id=f"{provider_type}-{row}")
    for provider_type in SUPPORT
    for row in PARAMETERS
    if row in SAMPLES
]


def test_every_row_but_unknown_parameters_has_a_sample() -> None:
    assert set(PARAMETERS) - set(SAMPLES) == {"unknown parameters"}


@pytest.mark.parametrize(("provider_type", "row"), CELLS)
def test_each_parameter_reaches_the_vendor_or_is_refused(
    client_a: httpx.Client, emulator: EmulatorControl, provider_type: str, row: str
) -> None:
    target = TARGETS[provider_type]
    sample = SAMPLES[row]
    body = {
        "model": target.model,
        "provider": target.instance,
        "messages": [{"role": "user", "content": "Reply in JSON, please."}],
        **sample,
    }
    response = client_a.post("/v1/chat/completions", json=body, timeout=30)
    how = support(provider_type, row)
    if how is Support.REFUSED:
        error = assert_error(response, 400, "unsupported_capability")
        assert str(error["param"]).split(".")[0] in sample
        assert repr(target.instance) in str(error["message"])
        assert emulator.requests() == []
        return
    job_id = response.headers.get("x-llm-gateway-job-id")
    assert response.status_code == 200, (response.text, client_a.get(f"/v1/jobs/{job_id}").text)
    [record] = emulator.requests()
    wire = record["body"]
    if how is Support.GATEWAY:
        (value,) = sample.values()
        assert json.dumps(value).strip('"{}') not in json.dumps(wire)
        kept = client_a.get(f"/v1/jobs/{job_id}").json()
        assert kept["request"][next(iter(sample))] == value
        return
    check = WIRE.get(provider_type, {}).get(row)
    assert check is not None, f"no wire check for {provider_type} x {row} ({how})"
    assert check(wire), wire
