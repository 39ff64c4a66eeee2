"""``ToolRegistry``: the tools the gateway can run on a model's (or a client's) behalf, with
their JSON Schemas, and validation of a call's arguments against them."""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from gateway.errors import InvalidToolArguments, ToolNotFound

ToolRunner = Callable[[Mapping[str, Any]], Any]

# What the OpenAI and Anthropic APIs accept as a function name.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Schema messages quote the offending value, which may be a whole document.
_MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class Tool:
    """A named tool: its JSON Schema for arguments and the callable that runs it.

    ``runner`` takes the validated arguments and returns a JSON-able value; it reports
    failures by raising ``ToolFailed`` (or a subclass). ``service`` names the downstream
    service it calls, for display; ``timeout_seconds`` overrides the default budget."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    runner: ToolRunner
    service: str | None = None
    timeout_seconds: float | None = None


def tool(
    function: Callable[..., Any],
    *,
    parameters: Mapping[str, Any],
    name: str | None = None,
    description: str | None = None,
    timeout_seconds: float | None = None,
) -> Tool:
    """A ``Tool`` running a plain function, called with the arguments as keywords. The name
    and description default to the function's name and the first line of its docstring."""

    def run(arguments: Mapping[str, Any]) -> Any:
        return function(**arguments)

    doc = inspect.getdoc(function) or ""
    return Tool(
        name=name or function.__name__,
        description=description if description is not None else doc.split("\n", 1)[0],
        parameters=parameters,
        runner=run,
        timeout_seconds=timeout_seconds,
    )


@dataclass(slots=True)
class ToolRegistry:
    """Tools by name. Built-ins register the same way extensions do."""

    _tools: dict[str, Tool] = field(default_factory=dict)
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict)

    def register(self, tool: Tool) -> None:
        """Add a tool; a duplicate name or an invalid schema raises ``ValueError``."""
        if not _NAME.match(tool.name):
            raise ValueError(f"tool name {tool.name!r} must match {_NAME.pattern}")
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        if not isinstance(tool.parameters, Mapping) or tool.parameters.get("type") != "object":
            raise ValueError(f"tool {tool.name!r}: parameters must be a schema of type 'object'")
        try:
            Draft202012Validator.check_schema(tool.parameters)
        except SchemaError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
            raise ValueError(
                f"tool {tool.name!r}: invalid parameters schema at {where}: {exc.message}"
            ) from None
        self._tools[tool.name] = tool
        self._validators[tool.name] = Draft202012Validator(tool.parameters)

    def get(self, name: str, *, param: str = "name") -> Tool:
        """The tool called ``name``; ``ToolNotFound`` (404) if there is none."""
        try:
            return self._tools[name]
        except KeyError:
            raise ToolNotFound(f"no such tool {name!r}", param=param) from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def tools(self) -> list[Tool]:
        """Every tool, sorted by name."""
        return [self._tools[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def validate(self, name: str, arguments: object) -> dict[str, Any]:
        """``arguments`` checked against the tool's schema, as a new dict. Raises
        ``ToolNotFound`` or ``InvalidToolArguments`` (param = JSON path of the problem)."""
        self.get(name)
        if not isinstance(arguments, Mapping):
            raise InvalidToolArguments(
                f"arguments: must be a JSON object, not {_json_type(arguments)}", param="arguments"
            )
        error = best_match(self._validators[name].iter_errors(arguments))
        if error is not None:
            raise _invalid(error)
        return dict(arguments)

    def definition(self, name: str) -> dict[str, Any]:
        """The public listing of one tool: name, description, parameters, service."""
        tool = self.get(name)
        return {
            "name": tool.name,
            "description": tool.description,
            "parameters": copy.deepcopy(dict(tool.parameters)),
            "service": tool.service,
        }

    def definitions(self) -> list[dict[str, Any]]:
        """Every tool's public listing, sorted by name."""
        return [self.definition(name) for name in self.names()]


def _invalid(error: ValidationError) -> InvalidToolArguments:
    where = "arguments" + error.json_path.removeprefix("$")
    param = where
    if error.validator == "required" and isinstance(error.instance, Mapping):
        # Point at the missing property itself, as a form would.
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [key for key in required if key not in error.instance]
        if missing:
            param = f"{where}.{missing[0]}"
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return InvalidToolArguments(f"{where}: {message}", param=param)


def _json_type(value: object) -> str:
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__
