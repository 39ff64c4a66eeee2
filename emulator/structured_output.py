"""Replies that honour a requested output format: JSON mode gets a JSON object, a JSON
schema gets an instance of it. Deterministic, so tests can assert on the exact reply.

Protocols set ``Turn.output`` from their own wire shape (OpenAI's ``response_format``,
Gemini's ``responseSchema``, Ollama's ``format``, ...); ``emulator.behaviour.decide`` then
uses ``reply_for`` in place of the echo.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Depth past which nested schemas produce ``null``: a recursive schema still terminates.
MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """``schema`` None: any JSON object (JSON mode)."""

    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReplyShape:
    """What a request's options ask of the reply: an output format, or a tool to call
    (``output`` then shapes its input)."""

    output: OutputFormat | None = None
    forced_tool: str | None = None


def reply_for(fmt: OutputFormat, echo: str) -> str:
    """The reply text: ``{"echo": ...}`` in JSON mode, else an instance of the schema."""
    if fmt.schema is None:
        return json.dumps({"echo": echo})
    return json.dumps(instance_of(fmt.schema, fmt.schema, 0), separators=(",", ":"))


def instance_of(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    """A value valid for ``schema`` (``$ref`` resolved within ``root``); every property of
    an object is filled (past half of ``MAX_DEPTH`` only the required ones)."""
    if depth > MAX_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target: Any = root
        for part in filter(None, ref[1:].split("/")):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return instance_of(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and isinstance(options[0], Mapping):
            return instance_of(options[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind or ("object" if "properties" in schema else "string")).lower()
    return _of_type(kind, schema, root, depth)


def _of_type(kind: str, schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        # Deep down only required properties: a recursive schema's optional ones end it.
        required = schema.get("required") if depth > MAX_DEPTH // 2 else list(properties)
        return {
            name: instance_of(sub if isinstance(sub, Mapping) else {}, root, depth + 1)
            for name, sub in properties.items()
            if isinstance(required, list) and name in required
        }
    if kind == "array":
        items = schema.get("items")
        count = max(1, int(schema.get("minItems") or 1))
        return [instance_of(items if isinstance(items, Mapping) else {}, root, depth + 1)] * count
    if kind == "integer":
        return int(schema.get("minimum") or 0)
    if kind == "number":
        return float(schema.get("minimum") or 0)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "text"
