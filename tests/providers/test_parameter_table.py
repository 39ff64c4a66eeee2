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


def _at(path: str, value: object) -> Check:
    """``value`` at the dotted ``path`` of the body."""

    def check(body: dict[str, Any]) -> bool:
        node: Any = body
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        return bool(node == value)

    return check


_ANTHROPIC_WIRE: Mapping[str, Check] = {
    "max_tokens": _field("max_tokens", 77),
    "stop": _field("stop_sequences", ["STOP-HERE"]),
    "tool_choice: none": _field("tool_choice", {"type": "none"}),
    "tool_choice: required": _field("tool_choice", {"type": "any"}),
    "tool_choice: a function": _field("tool_choice", {"type": "tool", "name": "get_weather"}),
    "parallel_tool_calls": _field(
        "tool_choice", {"type": "auto", "disable_parallel_tool_use": True}
    ),
    # Emulated: a forced tool whose input is any object.
    "response_format: json_object": lambda b: (
        b.get("tool_choice") == {"type": "tool", "name": "json_output"}
        and [t["name"] for t in b.get("tools", [])] == ["json_output"]
    ),
    "response_format: json_schema": _field(
        "output_config", {"format": {"type": "json_schema", "schema": SCHEMA}}
    ),
    "reasoning_effort": _field("output_config", {"effort": "low"}),
    "service_tier": _field("service_tier", "standard_only"),
    "user": _field("metadata", {"user_id": "user-probe-7"}),
}

_BEDROCK_WIRE: Mapping[str, Check] = {
    "temperature": _at("inferenceConfig.temperature", 0.25),
    "top_p": _at("inferenceConfig.topP", 0.5),
    "max_tokens": _at("inferenceConfig.maxTokens", 77),
    "stop": _at("inferenceConfig.stopSequences", ["STOP-HERE"]),
    # Emulated: Converse has no "none"; the tools are not offered at all.
    "tool_choice: none": lambda b: "toolConfig" not in b,
    "tool_choice: required": _at("toolConfig.toolChoice", {"any": {}}),
    "tool_choice: a function": _at("toolConfig.toolChoice", {"tool": {"name": "get_weather"}}),
    "response_format: json_object": _at("toolConfig.toolChoice", {"tool": {"name": "json_output"}}),
    "response_format: json_schema": lambda b: (
        _at("outputConfig.textFormat.type", "json_schema")(b)
        and _at("outputConfig.textFormat.structure.jsonSchema.name", "weather")(b)
        and json.loads(b["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"])
        == SCHEMA
    ),
    "reasoning_effort": _field("outputConfig", {"effort": "low"}),
    "service_tier": _field("serviceTier", {"type": "flex"}),
    "metadata": _field("requestMetadata", {"probe": "metadata-probe-9"}),
}

_VERTEX_WIRE: Mapping[str, Check] = {
    "temperature": _at("generationConfig.temperature", 0.25),
    "top_p": _at("generationConfig.topP", 0.5),
    "max_tokens": _at("generationConfig.maxOutputTokens", 77),
    "stop": _at("generationConfig.stopSequences", ["STOP-HERE"]),
    "tool_choice: none": _at("toolConfig.functionCallingConfig", {"mode": "NONE"}),
    "tool_choice: required": _at("toolConfig.functionCallingConfig", {"mode": "ANY"}),
    "tool_choice: a function": _at(
        "toolConfig.functionCallingConfig",
        {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
    ),
    "response_format: json_object": lambda b: (
        _at("generationConfig.responseMimeType", "application/json")(b)
        and "responseSchema" not in b["generationConfig"]
    ),
    "response_format: json_schema": lambda b: (
        _at("generationConfig.responseMimeType", "application/json")(b)
        and _at(
            "generationConfig.responseSchema",
            {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}, "celsius": {"type": "NUMBER"}},
                "required": ["city", "celsius"],
            },
        )(b)
    ),
    "seed": _at("generationConfig.seed", 4242),
    "presence_penalty": _at("generationConfig.presencePenalty", 0.75),
    "frequency_penalty": _at("generationConfig.frequencyPenalty", -0.5),
    # gemini-2.5-flash thinks in budgets: "low" is Google's own 1024 tokens.
    "reasoning_effort": _at("generationConfig.thinkingConfig", {"thinkingBudget": 1024}),
    "metadata": _field("labels", {"probe": "metadata-probe-9"}),
}

WIRE: Mapping[str, Mapping[str, Check]] = {
    "openai": _OPENAI_WIRE,
    "azure_openai": _OPENAI_WIRE,
    "ollama": _OLLAMA_WIRE,
    "watsonx": _WATSONX_WIRE,
    "oci": _OCI_WIRE,
    "anthropic": _ANTHROPIC_WIRE,
    "bedrock": _BEDROCK_WIRE,
    "vertex": _VERTEX_WIRE,
}

# A type whose vendor takes only some values of a carried row gets a sample it takes (the
# other values' refusals are tested with the type's format module).
SAMPLE_FOR: Mapping[str, Mapping[str, dict[str, Any]]] = {
    "anthropic": {"service_tier": {"service_tier": "default"}},
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
    sample = SAMPLE_FOR.get(provider_type, {}).get(row, SAMPLES[row])
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


@pytest.mark.parametrize(
    ("instance", "model", "sample", "param"),
    [
        pytest.param(
            "anthropic",
            "claude-haiku-4-5",
            {"service_tier": "flex"},
            "service_tier",
            id="anthropic",
        ),
        pytest.param(
            "bedrock-us",
            "meta.llama3-3-70b-instruct-v1:0",
            {"metadata": {"team": "naïve"}},
            "metadata",
            id="bedrock",
        ),
        pytest.param(
            "vertex", "gemini-2.5-flash", {"metadata": {"Team": "a"}}, "metadata", id="vertex"
        ),
    ],
)
def test_a_value_the_vendor_has_no_counterpart_for_is_a_400_naming_the_instance(
    client_a: httpx.Client,
    emulator: EmulatorControl,
    instance: str,
    model: str,
    sample: dict[str, Any],
    param: str,
) -> None:
    body = {
        "model": model,
        "provider": instance,
        "messages": [{"role": "user", "content": "hi"}],
        **sample,
    }
    response = client_a.post("/v1/chat/completions", json=body, timeout=30)
    error = assert_error(response, 400, "unsupported_capability")
    assert error["param"] == param
    assert repr(instance) in str(error["message"])
    assert emulator.requests() == []


def test_anthropic_sampling_parameters_are_refused_with_the_reason_not_a_500(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # Regression: the SDK no longer declares temperature or top_p, and passing one crashed
    # the worker with a TypeError (a 500 internal_error).
    for sample in ({"temperature": 0.2}, {"top_p": 0.9}, {"temperature": 1.0, "stream": True}):
        body = {
            "model": "claude-haiku-4-5",
            "provider": "anthropic",
            "messages": [{"role": "user", "content": "hi"}],
            **sample,
        }
        response = client_a.post("/v1/chat/completions", json=body, timeout=30)
        error = assert_error(response, 400, "unsupported_capability")
        assert "2026-10-21" in str(error["message"])
    assert emulator.requests() == []
