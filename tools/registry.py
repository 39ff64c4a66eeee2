"""``ToolRegistry``: the tools the gateway can run on a model's (or a client's) behalf."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import NotFound

ToolHandler = Callable[[Mapping[str, Any]], Any]


class ToolNotFound(NotFound):
    error_type = "tool_not_found"


@dataclass(frozen=True, slots=True)
class Tool:
    """A named tool with a JSON Schema for its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: ToolHandler


@dataclass(slots=True)
class ToolRegistry:
    """Tools by name. Built-ins register the same way extensions do."""

    _tools: dict[str, Tool] = field(default_factory=dict)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolNotFound(f"no such tool {name!r}", param="request.name") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools
