"""Converse's request options beyond the conversation, checked as Bedrock checks them (a
malformed one is its ``ValidationException``): ``toolConfig.toolChoice`` (one of ``auto``,
``any``, ``tool`` naming an offered tool), ``outputConfig`` (``textFormat``: ``{"type":
"json_schema", "structure": {"jsonSchema": {"schema": "<JSON text>", "name",
"description"}}}``; ``effort``), ``serviceTier`` (``{"type": priority | default | flex |
reserved}``) and ``requestMetadata`` (up to 16 pairs of restricted characters).

:func:`read_options` gives what shapes the reply: the structured output's schema, or the
tool a ``tool`` choice forces (its input schema then shapes the call).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from emulator.protocols.base import RequestError
from emulator.structured_output import OutputFormat, ReplyShape

_TIERS = frozenset(("priority", "default", "flex", "reserved"))
_CHOICES = frozenset(("auto", "any", "tool"))
# The service model's RequestMetadataKeyString and RequestMetadataValueString.
_METADATA_KEY = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}")
_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}")


def read_options(body: Mapping[str, Any]) -> ReplyShape:
    """Check the options of a Converse request; ``RequestError`` for a malformed one."""
    _check_metadata(body.get("requestMetadata"))
    tier = body.get("serviceTier")
    if tier is not None and (not isinstance(tier, dict) or tier.get("type") not in _TIERS):
        _invalid(f"serviceTier.type: must be one of {sorted(_TIERS)}")
    output = _output_config(body.get("outputConfig"))
    config = body.get("toolConfig")
    forced = _forced_tool(config.get("toolChoice") if isinstance(config, dict) else None)
    if forced is None:
        return ReplyShape(output=output)
    specs = {
        spec.get("name"): spec
        for t in (config or {}).get("tools") or []
        if isinstance(t, dict) and isinstance(spec := t.get("toolSpec"), dict)
    }
    if forced not in specs:
        _invalid(f"toolConfig.toolChoice.tool.name: {forced!r} is not among the tools")
    schema = (specs[forced].get("inputSchema") or {}).get("json")
    fits = isinstance(schema, dict) and bool(schema.get("properties"))
    return ReplyShape(output=OutputFormat(schema if fits else None), forced_tool=forced)


def _invalid(problem: str) -> NoReturn:
    raise RequestError(f"1 validation error detected: {problem}")


def _check_metadata(metadata: object) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not 1 <= len(metadata) <= 16:
        _invalid("requestMetadata: must hold 1 to 16 entries")
    for key, value in metadata.items():
        if not isinstance(value, str) or not _METADATA_KEY.fullmatch(key):
            _invalid(f"requestMetadata: key {key!r} fails the pattern")
        if not _METADATA_VALUE.fullmatch(value):
            _invalid(f"requestMetadata: the value of {key!r} fails the pattern")


def _output_config(config: object) -> OutputFormat | None:
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"textFormat", "effort"}:
        _invalid("outputConfig: only textFormat and effort are known")
    effort = config.get("effort")
    if effort is not None and (not isinstance(effort, str) or len(effort) > 16):
        _invalid("outputConfig.effort: must be a string of at most 16 characters")
    fmt = config.get("textFormat")
    if fmt is None:
        return None
    definition = fmt.get("structure", {}).get("jsonSchema") if isinstance(fmt, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        _invalid("outputConfig.textFormat.type: must be json_schema")
    if not isinstance(definition, dict) or not isinstance(definition.get("schema"), str):
        _invalid("outputConfig.textFormat.structure.jsonSchema.schema: a string is required")
    try:
        schema = json.loads(definition["schema"])
    except ValueError:
        _invalid("outputConfig.textFormat.structure.jsonSchema.schema: is not valid JSON")
    if not isinstance(schema, dict):
        _invalid("outputConfig.textFormat.structure.jsonSchema.schema: must be a JSON object")
    return OutputFormat(schema)


def _forced_tool(choice: object) -> str | None:
    if choice is None:
        return None
    if not isinstance(choice, dict) or len(choice) != 1 or next(iter(choice)) not in _CHOICES:
        _invalid(f"toolConfig.toolChoice: must have exactly one of {sorted(_CHOICES)}")
    tool = choice.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        _invalid("toolConfig.toolChoice.tool.name: is required")
    return str(tool["name"])
