"""A tool's (or a response format's) JSON Schema as Vertex AI's ``Schema``, the OpenAPI 3.0
subset Gemini accepts.

Reference: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/Schema

The API parses the schema as a protobuf message, so any other keyword (``$schema``,
``additionalProperties``, ``$defs``, ``oneOf``, ``const``, ...) fails the whole request
with "Unknown name". Here: types are upper-cased, ``["string", "null"]`` becomes
``nullable``, local ``$ref``s are inlined, ``oneOf`` becomes ``anyOf``, ``const`` an enum,
formats Gemini does not know are dropped, and keywords outside the subset are left out.
Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest

_KEPT = frozenset(
    (
        "format",
        "title",
        "description",
        "nullable",
        "default",
        "minItems",
        "maxItems",
        "enum",
        "propertyOrdering",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "minimum",
        "maximum",
    )
)
# The formats the Schema reference lists per type; others are rejected.
_FORMATS: Mapping[str, frozenset[str]] = {
    "STRING": frozenset(("enum", "date-time")),
    "NUMBER": frozenset(("float", "double")),
    "INTEGER": frozenset(("int32", "int64")),
}
_REF_PREFIXES = ("#/$defs/", "#/definitions/")
# Inlining $refs can grow a schema exponentially (each definition using the next twice):
# the API checks every request with this, so the work is bounded.
MAX_SCHEMA_NODES = 2000


class _Budget:
    """Schema nodes still allowed for one conversion."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes

    def spend(self, param: str) -> None:
        self.nodes -= 1
        if self.nodes < 0:
            problem = f"tool schema has more than {MAX_SCHEMA_NODES} nodes once $refs are inlined"
            raise InvalidRequest(f"{param}: {problem}", param=param)


def gemini_parameters(schema: Mapping[str, Any], param: str) -> dict[str, Any] | None:
    """``FunctionDeclaration.parameters`` for an OpenAI tool's JSON Schema; None for a
    function without parameters (Gemini rejects an OBJECT with empty ``properties``)."""
    if not schema:
        return None
    converted = gemini_schema(schema, param)
    return converted if converted.get("properties") else None


def gemini_schema(schema: Mapping[str, Any], param: str) -> dict[str, Any]:
    """``generationConfig.responseSchema`` for a JSON Schema (any type at the top)."""
    return _schema(schema, _definitions(schema), param, (), _Budget(MAX_SCHEMA_NODES))


def _definitions(schema: Mapping[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        if isinstance(found := schema.get(key), Mapping):
            defs.update(found)
    return defs


def _schema(
    node: object, defs: Mapping[str, Any], param: str, refs: tuple[str, ...], budget: _Budget
) -> dict[str, Any]:
    budget.spend(param)
    if not isinstance(node, Mapping):
        return {}  # a boolean schema: anything goes, which an empty Schema also says
    if isinstance(ref := node.get("$ref"), str):
        target = _resolve(ref, node, defs, param, refs)
        return _schema(target, defs, param, (*refs, ref), budget)
    out: dict[str, Any] = {}
    for key, value in node.items():
        match key, value:
            case "type", _:
                _set_type(out, value)
            case "properties", Mapping():
                out["properties"] = {
                    name: _schema(sub, defs, f"{param}.properties.{name}", refs, budget)
                    for name, sub in value.items()
                }
            case "items", Mapping():
                out["items"] = _schema(value, defs, f"{param}.items", refs, budget)
            case (("anyOf" | "oneOf"), list()):
                out["anyOf"] = [
                    _schema(sub, defs, f"{param}.{key}[{i}]", refs, budget)
                    for i, sub in enumerate(value)
                ]
            case "allOf", [single]:  # a lone allOf wraps one schema (pydantic does this)
                out.update(_schema(single, defs, f"{param}.allOf[0]", refs, budget))
            case "const", _:
                out["enum"] = [value]
            case _ if key in _KEPT:
                out[key] = value
    return _tidy(out)


def _resolve(
    ref: str, node: Mapping[str, Any], defs: Mapping[str, Any], param: str, refs: tuple[str, ...]
) -> dict[str, Any]:
    name = ref.removeprefix("#/$defs/").removeprefix("#/definitions/")
    if not ref.startswith(_REF_PREFIXES) or name not in defs:
        raise InvalidRequest(f"{param}: cannot resolve $ref {ref!r}", param=param)
    if ref in refs:
        problem = f"$ref {ref!r} is recursive, which Gemini schemas cannot express"
        raise InvalidRequest(f"{param}: {problem}", param=param)
    target = defs[name] if isinstance(defs[name], Mapping) else {}
    # Keywords beside the $ref (a description, say) refine the referenced schema.
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _set_type(out: dict[str, Any], value: object) -> None:
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    types = [n.upper() for n in names if isinstance(n, str) and n != "null"]
    if len(types) < len(names):
        out["nullable"] = True
    if len(types) == 1:
        out["type"] = types[0]
    elif types:  # ["string", "integer"]: one alternative per type
        out["anyOf"] = [{"type": t} for t in types]


def _tidy(out: dict[str, Any]) -> dict[str, Any]:
    """Fix what is valid JSON Schema but not a valid Gemini Schema."""
    alternatives = out.get("anyOf")
    if isinstance(alternatives, list):
        kept = [a for a in alternatives if a != {"nullable": True}]  # the "null" alternative
        if len(kept) < len(alternatives):
            out["nullable"] = True
        if len(kept) == 1 and "type" not in out:
            del out["anyOf"]
            out.update({k: v for k, v in kept[0].items() if k not in out})
        elif kept:
            out["anyOf"] = kept
        else:
            del out["anyOf"]
    enum = out.get("enum")
    if isinstance(enum, list) and not all(isinstance(v, str) for v in enum):
        # Gemini enums are strings; a numeric choice moves into the description.
        del out["enum"]
        allowed = "one of " + ", ".join(json.dumps(v) for v in enum)
        out["description"] = (
            f"{out['description']} ({allowed})" if "description" in out else allowed
        )
    elif isinstance(enum, list) and "type" not in out:
        out["type"] = "STRING"
    if "format" in out and out["format"] not in _FORMATS.get(out.get("type", ""), ()):
        del out["format"]
    properties = out.get("properties")
    if isinstance(properties, Mapping) and isinstance(out.get("required"), list):
        out["required"] = [n for n in out["required"] if n in properties]
    if properties == {}:
        del out["properties"]
    return out
