"""The chat options the Anthropic, Bedrock and Vertex protocols check (a malformed one is
the vendor's 400, as the real service answers) and the reply they shape: structured output
answers an instance of the schema, a forced tool a call to it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.behaviour import decide
from emulator.directives import ToolCall
from emulator.protocols.anthropic_messages import AnthropicMessages
from emulator.protocols.base import Protocol, RequestError
from emulator.protocols.bedrock_converse import BedrockConverse
from emulator.protocols.vertex_gemini import VertexGemini

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOL_SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


def anthropic(**options: Any) -> dict[str, Any]:
    question = {"role": "user", "content": "hi"}
    return {"model": "claude", "max_tokens": 9, "messages": [question], **options}


def bedrock(**options: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": "hi"}]}], **options}


def vertex(**options: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **options}


ANTHROPIC_TOOLS = {"tools": [{"name": "count", "input_schema": TOOL_SCHEMA}]}
BEDROCK_TOOLS = [{"toolSpec": {"name": "count", "inputSchema": {"json": TOOL_SCHEMA}}}]
MALFORMED = [
    pytest.param(AnthropicMessages(), anthropic(service_tier="flex"), id="anthropic-tier"),
    pytest.param(AnthropicMessages(), anthropic(metadata={"team": "a"}), id="anthropic-metadata"),
    pytest.param(
        AnthropicMessages(),
        anthropic(output_config={"format": {"type": "json_object"}}),
        id="anthropic-format-type",
    ),
    pytest.param(
        AnthropicMessages(),
        anthropic(output_config={"format": {"type": "json_schema"}}),
        id="anthropic-format-without-schema",
    ),
    pytest.param(
        AnthropicMessages(), anthropic(output_config={"effort": "none"}), id="anthropic-effort"
    ),
    pytest.param(
        AnthropicMessages(),
        anthropic(**ANTHROPIC_TOOLS, tool_choice={"type": "tool", "name": "other"}),
        id="anthropic-forced-tool-not-offered",
    ),
    pytest.param(
        AnthropicMessages(),
        anthropic(**ANTHROPIC_TOOLS, tool_choice={"type": "none", "disable_parallel_tool_use": 1}),
        id="anthropic-none-with-parallel-flag",
    ),
    pytest.param(BedrockConverse(), bedrock(serviceTier={"type": "scale"}), id="bedrock-tier"),
    pytest.param(BedrockConverse(), bedrock(requestMetadata={"team": "a!"}), id="bedrock-metadata"),
    pytest.param(
        BedrockConverse(),
        bedrock(
            outputConfig={
                "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": {}}}}
            }
        ),
        id="bedrock-schema-not-text",
    ),
    pytest.param(
        BedrockConverse(),
        bedrock(toolConfig={"tools": BEDROCK_TOOLS, "toolChoice": {"tool": {"name": "x"}}}),
        id="bedrock-forced-tool-not-offered",
    ),
    pytest.param(
        VertexGemini(),
        vertex(generationConfig={"responseSchema": {"type": "OBJECT"}}),
        id="vertex-schema-without-json-mime-type",
    ),
    pytest.param(
        VertexGemini(),
        vertex(generationConfig={"responseMimeType": "application/json", "responseSchema": SCHEMA}),
        id="vertex-json-schema-keyword",
    ),
    pytest.param(VertexGemini(), vertex(generationConfig={"seed": 1.5}), id="vertex-seed"),
    pytest.param(
        VertexGemini(),
        vertex(generationConfig={"thinkingConfig": {"thinkingBudget": 1, "thinkingLevel": "LOW"}}),
        id="vertex-budget-and-level",
    ),
    pytest.param(VertexGemini(), vertex(labels={"Team": "a"}), id="vertex-label-key"),
    pytest.param(
        VertexGemini(), vertex(generationConfig={"logitBias": {}}), id="vertex-unknown-field"
    ),
]


@pytest.mark.parametrize(("protocol", "body"), MALFORMED)
def test_a_malformed_option_is_the_vendors_400(protocol: Protocol, body: dict[str, Any]) -> None:
    with pytest.raises(RequestError):
        protocol.parse(body, {"model": "m", "model_id": "m"})


WELL_FORMED = [
    pytest.param(
        AnthropicMessages(),
        anthropic(
            output_config={"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "low"},
            service_tier="standard_only",
            metadata={"user_id": "u"},
        ),
        id="anthropic",
    ),
    pytest.param(
        BedrockConverse(),
        bedrock(
            outputConfig={
                "textFormat": {
                    "type": "json_schema",
                    "structure": {"jsonSchema": {"schema": json.dumps(SCHEMA), "name": "c"}},
                },
                "effort": "low",
            },
            serviceTier={"type": "flex"},
            requestMetadata={"team": "a-b"},
        ),
        id="bedrock",
    ),
    pytest.param(
        VertexGemini(),
        vertex(
            generationConfig={
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}},
                    "required": ["city"],
                },
                "seed": 7,
                "presencePenalty": 0.5,
                "thinkingConfig": {"thinkingLevel": "low"},
            },
            labels={"team": "a-b"},
        ),
        id="vertex",
    ),
]


@pytest.mark.parametrize(("protocol", "body"), WELL_FORMED)
def test_structured_output_answers_an_instance_of_the_schema(
    protocol: Protocol, body: dict[str, Any]
) -> None:
    decision = decide(protocol.parse(body, {"model": "m", "model_id": "m"}), None)
    assert decision.text is not None
    assert json.loads(decision.text) == {"city": "text"}


FORCED = [
    pytest.param(
        AnthropicMessages(),
        anthropic(**ANTHROPIC_TOOLS, tool_choice={"type": "tool", "name": "count"}),
        id="anthropic",
    ),
    pytest.param(
        BedrockConverse(),
        bedrock(toolConfig={"tools": BEDROCK_TOOLS, "toolChoice": {"tool": {"name": "count"}}}),
        id="bedrock",
    ),
]


@pytest.mark.parametrize(("protocol", "body"), FORCED)
def test_a_forced_tool_is_called_with_an_instance_of_its_schema(
    protocol: Protocol, body: dict[str, Any]
) -> None:
    decision = decide(protocol.parse(body, {"model": "m", "model_id": "m"}), None)
    assert (decision.text, decision.tool_calls) == (None, (ToolCall("count", {"n": 0}),))
    assert decision.finish_reason == "tool_calls"
