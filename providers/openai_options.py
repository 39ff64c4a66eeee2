"""The OpenAI chat fields beyond messages and tools, to and from the neutral types:
``response_format``, the small typed options (``parallel_tool_calls``, ``logit_bias``,
``metadata``) and a choice's ``logprobs``. Pure functions; a malformed field is an
``InvalidRequest`` naming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from providers.json_fields import bad, mapping, optional_string, string
from providers.types import ResponseFormat

_T = TypeVar("_T")


def response_format_from_openai(value: object) -> ResponseFormat | None:
    """``response_format``; ``text`` (the default) is no format at all."""
    if value is None:
        return None
    d = mapping(value, "response_format")
    kind = d.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise bad("response_format.type", "must be 'text', 'json_object' or 'json_schema'")
    spec = mapping(d.get("json_schema"), "response_format.json_schema")
    schema = spec.get("schema")
    if schema is not None:
        schema = mapping(schema, "response_format.json_schema.schema")
    return ResponseFormat(
        "json_schema",
        name=string(spec, "name", "response_format.json_schema"),
        schema=schema,
        strict=spec.get("strict") is True,
        description=optional_string(spec, "description", "response_format.json_schema") or "",
    )


def optional_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise bad(key, "must be a boolean")


def string_map(value: object, param: str, kind: type[_T]) -> Mapping[str, _T] | None:
    """An object whose values are all ``kind`` (``logit_bias``, ``metadata``)."""
    if value is None:
        return None
    d = mapping(value, param)
    for k, v in d.items():
        if not isinstance(v, kind) or isinstance(v, bool):
            raise bad(f"{param}.{k}", f"must be {'an integer' if kind is int else 'a string'}")
    return dict(d)


def response_format_to_openai(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    """OpenAI's ``response_format`` object for ``fmt`` (``None``: none sent)."""
    if fmt is None:
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name, "strict": fmt.strict}
    if fmt.schema is not None:
        spec["schema"] = dict(fmt.schema)
    if fmt.description:
        spec["description"] = fmt.description
    return {"type": "json_schema", "json_schema": spec}


def logprobs_from_openai(value: object) -> dict[str, Any] | None:
    """A choice's ``logprobs`` object as it came, or None when it holds no token entries
    (OpenAI sends ``null`` unless the request asked for them)."""
    if not isinstance(value, Mapping):
        return None
    content = value.get("content")
    if not isinstance(content, list) or not all(isinstance(e, Mapping) for e in content):
        return None
    return {"content": [dict(e) for e in content], "refusal": value.get("refusal")}


def logprob_entries(value: object) -> tuple[Mapping[str, Any], ...]:
    """The token entries of a (streamed) choice's ``logprobs``; none when it has none."""
    parsed = logprobs_from_openai(value)
    return tuple(parsed["content"]) if parsed else ()
