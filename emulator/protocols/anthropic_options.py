"""The Messages API's request options beyond the conversation, checked as the API checks
them (a malformed one is its 400 ``invalid_request_error``): ``tool_choice`` (``auto``,
``any``, ``tool`` naming an offered tool, ``none``; ``disable_parallel_tool_use`` a
boolean, not on ``none``), ``output_config`` (``format``: ``{"type": "json_schema",
"schema": {...}}``; ``effort``), ``service_tier`` (``auto`` or ``standard_only``) and
``metadata`` (only ``user_id``).

:func:`read_options` gives what shapes the reply: the structured output's schema, or the
tool a ``tool`` choice forces (its input schema then shapes the call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from emulator.protocols.base import RequestError
from emulator.structured_output import OutputFormat, ReplyShape

_CHOICES = frozenset(("auto", "any", "tool", "none"))
_EFFORTS = frozenset(("low", "medium", "high", "xhigh", "max"))
_TIERS = frozenset(("auto", "standard_only"))


def read_options(body: Mapping[str, Any]) -> ReplyShape:
    """Check the options of a Messages request; ``RequestError`` for a malformed one."""
    _check_metadata(body.get("metadata"))
    tier = body.get("service_tier")
    if tier is not None and tier not in _TIERS:
        _invalid("service_tier", f"Input should be 'auto' or 'standard_only', not {tier!r}")
    output = _output_config(body.get("output_config"))
    tools = {
        t["name"]: t
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    }
    forced = _tool_choice(body.get("tool_choice"), tools)
    if forced is None:
        return ReplyShape(output=output)
    schema = tools[forced].get("input_schema")
    fits = isinstance(schema, dict) and bool(schema.get("properties"))
    return ReplyShape(output=OutputFormat(schema if fits else None), forced_tool=forced)


def _invalid(param: str, problem: str) -> NoReturn:
    raise RequestError(f"{param}: {problem}", param=param)


def _check_metadata(metadata: object) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
        _invalid("metadata", "only user_id is permitted")
    if metadata.get("user_id") is not None and not isinstance(metadata["user_id"], str):
        _invalid("metadata.user_id", "Input should be a valid string")


def _output_config(config: object) -> OutputFormat | None:
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"format", "effort"}:
        _invalid("output_config", "Extra inputs are not permitted (format, effort)")
    effort = config.get("effort")
    if effort is not None and effort not in _EFFORTS:
        _invalid("output_config.effort", f"Input should be one of {sorted(_EFFORTS)}")
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        _invalid("output_config.format.type", "Input should be 'json_schema'")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        _invalid("output_config.format.schema", "Field required (a JSON schema object)")
    return OutputFormat(schema)


def _tool_choice(choice: object, tools: Mapping[str, Any]) -> str | None:
    """The forced tool's name, for a ``tool`` choice."""
    if choice is None:
        return None
    if not isinstance(choice, dict):
        _invalid("tool_choice", "Input should be an object")
    kind = choice.get("type")
    if kind not in _CHOICES:
        _invalid("tool_choice.type", f"Input should be one of {sorted(_CHOICES)}")
    if "disable_parallel_tool_use" in choice and (
        kind == "none" or not isinstance(choice["disable_parallel_tool_use"], bool)
    ):
        _invalid("tool_choice.disable_parallel_tool_use", "Extra inputs are not permitted")
    if kind != "tool":
        return None
    name = choice.get("name")
    if name not in tools:
        _invalid("tool_choice.name", f"Tool {name!r} not found in the tools offered")
    return str(name)
