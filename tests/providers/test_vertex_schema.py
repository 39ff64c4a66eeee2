"""Tool JSON Schemas as Vertex AI's Schema, the OpenAPI subset Gemini accepts.

Reference: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/Schema (types are the
upper-case enum names; keywords outside the message are "Unknown name" errors).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from providers.types import ChatRequest, Message, TextPart, ToolDefinition
from providers.vertex_format import gemini_request
from providers.vertex_schema import gemini_parameters

ASK = Message("user", (TextPart("What is the weather in Boston?"),))


SCHEMAS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("no parameters: omitted", {"type": "object", "properties": {}}, None),
    ("empty schema: omitted", {}, None),
    (
        "keywords outside the subset are dropped",
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {"q": {"type": "string", "examples": ["x"], "format": "uri"}},
            "required": ["q", "ghost"],
        },
        {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}, "required": ["q"]},
    ),
    (
        "type lists and null alternatives become nullable",
        {
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "n"},
                "c": {"type": ["string", "integer"]},
            },
        },
        {
            "type": "OBJECT",
            "properties": {
                "a": {"type": "STRING", "nullable": True},
                "b": {"type": "INTEGER", "nullable": True, "description": "n"},
                "c": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
            },
        },
    ),
    (
        "local $refs are inlined, oneOf becomes anyOf, const an enum",
        {
            "type": "object",
            "$defs": {"Unit": {"type": "string", "enum": ["C", "F"]}},
            "properties": {
                "unit": {"$ref": "#/$defs/Unit", "description": "scale"},
                "kind": {"const": "exact"},
                "when": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
                "level": {"type": "integer", "enum": [1, 2], "format": "int32"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            },
        },
        {
            "type": "OBJECT",
            "properties": {
                "unit": {"type": "STRING", "enum": ["C", "F"], "description": "scale"},
                "kind": {"type": "STRING", "enum": ["exact"]},
                "when": {"anyOf": [{"type": "STRING", "format": "date-time"}, {"type": "NUMBER"}]},
                "level": {"type": "INTEGER", "format": "int32", "description": "one of 1, 2"},
                "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 3},
            },
        },
    ),
]


@pytest.mark.parametrize(("name", "schema", "expected"), SCHEMAS, ids=[s[0] for s in SCHEMAS])
def test_json_schemas_become_the_gemini_schema_subset(
    name: str, schema: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    tool = ToolDefinition("f", "", schema)
    body = gemini_request(ChatRequest("gemini-2.5-flash", (ASK,), tools=(tool,)))
    [declaration] = body["tools"][0]["functionDeclarations"]
    assert declaration.get("parameters") == expected


def test_refs_that_would_inline_exponentially_are_refused_quickly() -> None:
    # d0 → two uses of d1 → two of d2 … : 2^30 nodes if inlined.
    defs = {
        f"d{i}": {
            "type": "object",
            "properties": {"a": {"$ref": f"#/$defs/d{i + 1}"}, "b": {"$ref": f"#/$defs/d{i + 1}"}},
        }
        for i in range(30)
    }
    defs["d30"] = {"type": "string"}
    schema = {"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs}
    started = time.perf_counter()
    with pytest.raises(InvalidRequest, match="more than 2000 nodes"):
        gemini_parameters(schema, "tools[0].function.parameters")
    assert time.perf_counter() - started < 5.0  # generous: expanding it all would never end
