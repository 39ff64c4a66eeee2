"""Vertex Gemini request parsing shared by the protocol: protobuf JSON's strictness (an
unknown field is a 400, a field goes by its JSON or its proto name), the OpenAPI ``Schema``
subset, and ``generationConfig`` and ``labels`` checked as Google checks them
(``responseMimeType``, ``responseSchema``, ``seed``, the penalties, ``thinkingConfig``
with a budget or a level but not both; labels of lowercase letters, digits, ``_`` and
``-``).

:func:`read_options` gives what shapes the reply: JSON mode (``responseMimeType:
application/json``), with ``responseSchema`` when there is one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from emulator.protocols.base import RequestError
from emulator.structured_output import OutputFormat, ReplyShape

_GENERATION_FIELDS = frozenset(
    [
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "presencePenalty",
        "frequencyPenalty",
        "seed",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseLogprobs",
        "logprobs",
        "responseModalities",
        "thinkingConfig",
        "mediaResolution",
        "speechConfig",
        "audioTimestamp",
        "routingConfig",
        "imageConfig",
    ]
)
_MIME_TYPES = frozenset(("text/plain", "application/json", "text/x.enum"))
_THINKING_FIELDS = frozenset(("thinkingBudget", "thinkingLevel", "includeThoughts"))
_LEVELS = frozenset(("MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"))
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")

_SCHEMA_FIELDS = frozenset(
    [
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "default",
        "items",
        "minItems",
        "maxItems",
        "enum",
        "properties",
        "propertyOrdering",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "minimum",
        "maximum",
    ]
)
_TYPES = frozenset(("STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"))


def known(obj: Mapping[str, Any], fields: frozenset[str], where: str) -> None:
    # Google parses requests as protobuf JSON: an unknown field fails the whole request.
    for name in obj:
        camel = name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:])
        if camel not in fields:
            at = f" at '{where}'" if where else ""
            raise RequestError(f'Invalid JSON payload received. Unknown name "{name}"{at}.')


def field(obj: Mapping[str, Any], camel: str) -> Any:
    """A field under its JSON name or its proto (snake_case) name; Google accepts both."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(camel, obj.get(snake))


def check_schema(schema: object, where: str) -> None:
    if not isinstance(schema, dict):
        raise RequestError(f"{where}: must be an object", param=where)
    known(schema, _SCHEMA_FIELDS, where)
    kind = schema.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.upper() not in _TYPES):
        raise RequestError(f"Invalid value at '{where}.type': {kind!r}", param=where)
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{where}.properties[{name!r}]")
    if schema.get("items") is not None:
        check_schema(schema["items"], f"{where}.items")
    for k, sub in enumerate(schema.get("anyOf") or []):
        check_schema(sub, f"{where}.any_of[{k}]")


def read_options(body: Mapping[str, Any]) -> ReplyShape:
    """Check ``generationConfig`` and ``labels``; ``RequestError`` for a malformed one."""
    _check_labels(body.get("labels"))
    config = body.get("generationConfig")
    if config is None:
        return ReplyShape()
    where = "generation_config"
    if not isinstance(config, dict):
        _invalid(where, "must be an object")
    known(config, _GENERATION_FIELDS, where)
    limit = field(config, "maxOutputTokens")
    if limit is not None and (not _is_int(limit) or limit < 1):
        _invalid("generationConfig.maxOutputTokens", "must be a positive integer")
    seed = field(config, "seed")
    if seed is not None and not _is_int(seed):
        _invalid("generationConfig.seed", "must be an integer")
    for name in ("presencePenalty", "frequencyPenalty", "temperature", "topP"):
        value = field(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            _invalid(f"generationConfig.{name}", "must be a number")
    _check_thinking(field(config, "thinkingConfig"))
    return _shape(config)


def _shape(config: Mapping[str, Any]) -> ReplyShape:
    mime = field(config, "responseMimeType")
    if mime is not None and mime not in _MIME_TYPES:
        _invalid("generationConfig.responseMimeType", f"unsupported MIME type {mime!r}")
    schema = field(config, "responseSchema")
    if schema is not None:
        check_schema(schema, "generation_config.response_schema")
        if mime not in ("application/json", "text/x.enum"):
            _invalid(
                "generationConfig.responseSchema",
                "response_mime_type must be application/json or text/x.enum",
            )
    if mime != "application/json":
        return ReplyShape()
    return ReplyShape(output=OutputFormat(schema))


def _check_thinking(thinking: object) -> None:
    if thinking is None:
        return
    where = "generation_config.thinking_config"
    if not isinstance(thinking, dict):
        _invalid(where, "must be an object")
    known(thinking, _THINKING_FIELDS, where)
    budget, level = field(thinking, "thinkingBudget"), field(thinking, "thinkingLevel")
    if budget is not None and level is not None:
        _invalid(where, "thinking_budget and thinking_level cannot both be set")
    if budget is not None and (not _is_int(budget) or budget < -1):
        _invalid(f"{where}.thinking_budget", "must be -1, 0 or a positive integer")
    if level is not None and (not isinstance(level, str) or level.upper() not in _LEVELS):
        _invalid(f"{where}.thinking_level", f"Invalid value {level!r}")


def _check_labels(labels: object) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict) or len(labels) > 64:
        _invalid("labels", "must be a map of at most 64 labels")
    for key, value in labels.items():
        if not isinstance(value, str) or not _LABEL_KEY.fullmatch(key):
            _invalid("labels", f"label key {key!r} is invalid")
        if not _LABEL_VALUE.fullmatch(value):
            _invalid("labels", f"the value of label {key!r} is invalid")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(param: str, problem: str) -> NoReturn:
    raise RequestError(f"{param}: {problem}", param=param)
