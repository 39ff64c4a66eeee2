"""The emulator's replies for a requested output format validate against the schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from emulator.structured_output import OutputFormat, reply_for

SCHEMAS = {
    "flat": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["city", "celsius"],
        "additionalProperties": False,
    },
    "nested-with-refs": {
        "type": "object",
        "$defs": {"step": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "minItems": 2},
            "kind": {"enum": ["a", "b"]},
            "done": {"type": "boolean"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "maybe": {"type": ["null", "integer"], "minimum": 3},
        },
        "required": ["steps", "kind", "done", "note", "maybe"],
    },
    "recursive": {
        "type": "object",
        "properties": {"child": {"$ref": "#"}},
    },
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_a_schema_gets_an_instance_of_itself(name: str) -> None:
    schema = SCHEMAS[name]
    jsonschema.validate(json.loads(reply_for(OutputFormat(schema), "x")), schema)


def test_json_mode_gets_a_json_object_echoing_the_question() -> None:
    assert json.loads(reply_for(OutputFormat(), "hello")) == {"echo": "hello"}
