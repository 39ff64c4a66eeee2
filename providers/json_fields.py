"""Typed readers for untrusted JSON: each returns the value or raises ``InvalidRequest``
naming the field (``param="messages[3].content"``), so parsing code reads straight through."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest


def bad(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {problem}", param=param)


def mapping(value: object, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad(param, "must be an object")
    return value


def array(value: object, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad(param, "must be an array")
    return value


def string(obj: Mapping[str, Any], key: str, param: str) -> str:
    """``obj[key]`` as a string; ``param`` is obj's path ("" at the top level)."""
    value = obj.get(key)
    if not isinstance(value, str):
        problem = "is required" if value is None else "must be a string"
        raise bad(f"{param}.{key}" if param else key, problem)
    return value


def optional_string(obj: Mapping[str, Any], key: str, param: str) -> str | None:
    return None if obj.get(key) is None else string(obj, key, param)


def optional_number(
    obj: Mapping[str, Any], key: str, param: str = "", minimum: int = 0
) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise bad(f"{param}.{key}" if param else key, f"must be a number >= {minimum}")
    return value


def optional_int(obj: Mapping[str, Any], key: str, param: str = "", minimum: int = 0) -> int | None:
    value = optional_number(obj, key, param, minimum)
    if value is None or isinstance(value, int):
        return value
    raise bad(f"{param}.{key}" if param else key, "must be an integer")


def tool_arguments(text: str, param: str) -> dict[str, Any]:
    """A tool call's ``arguments`` JSON text as the object wire formats other than OpenAI's
    carry; "" (some clients send it for no arguments) is ``{}``."""
    if not text.strip():
        return {}
    try:
        arguments = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the limit
        raise bad(param, "not valid JSON") from None
    if not isinstance(arguments, dict):
        raise bad(param, "must be a JSON object")
    return arguments
