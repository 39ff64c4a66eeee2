"""Tool definitions file (``config/tools.yaml``) → ``ToolRegistry``.

    services:                     # optional: services beyond the built-in ones
      billing: {url: "http://billing:9000"}
    tools:
      - name: get_chunk
        description: Fetch one chunk of the corpus by id.
        parameters: {type: object, properties: {...}, required: [...]}   # JSON Schema
        timeout_seconds: 10       # optional, else the gateway default
        http: {service: semantic_search, method: GET, path: "/v1/chunks/{chunk_id}"}
      - name: word_count
        description: Count words.
        parameters: {...}
        python: "package.module:function"   # called with the arguments as keywords

An entry has exactly one of ``http`` and ``python``. ``http.body`` is ``arguments`` (the
default: the arguments are the JSON body) or ``input`` (``{"input": arguments}``). Every
problem is a ``ValueError`` naming the file and the entry, raised at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from tools.downstream import DownstreamClient
from tools.http_tools import METHODS, BodyShape, HttpRoute, HttpTool
from tools.registry import Tool, ToolRegistry, tool

_TOP_KEYS = {"services", "tools"}
_TOOL_KEYS = {"name", "description", "parameters", "timeout_seconds", "http", "python"}
_HTTP_KEYS = {"service", "method", "path", "body"}
_BODIES: tuple[BodyShape, ...] = ("arguments", "input")


def load_tools(
    path: Path, services: Mapping[str, str], http: DownstreamClient | None
) -> ToolRegistry:
    """The registry of the tools in ``path``. ``services`` maps the built-in service names
    to base URLs; ``http`` runs HTTP tools (None: list and validate only)."""
    document = _read(path)
    try:
        known = {**services, **_file_services(document.get("services"), services)}
        raw_tools = document.get("tools")
        if not isinstance(raw_tools, list):
            raise ValueError("'tools' must be a list of tool definitions")
        registry = ToolRegistry()
        for index, entry in enumerate(raw_tools):
            registry.register(_tool(index, entry, known, http))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return registry


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read tool definitions ({exc.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}: not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping with a 'tools' list")
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown top-level key {unknown[0]!r}")
    return cast(dict[str, Any], document)


def _file_services(raw: object, builtin: Mapping[str, str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("'services' must map service names to {url: ...}")
    found: dict[str, str] = {}
    for name, body in raw.items():
        if name in builtin:
            raise ValueError(f"service {name!r} is built in; its URL comes from the settings")
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"service {name!r} needs url: an http(s) URL")
        found[str(name)] = url
    return found


def _tool(
    index: int, entry: object, services: Mapping[str, str], http: DownstreamClient | None
) -> Tool:
    if not isinstance(entry, dict):
        raise ValueError(f"tools[{index}] must be a mapping")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"tools[{index}] needs a name")
    try:
        return _build(entry, services, http)
    except ValueError as exc:
        raise ValueError(f"tool {name!r}: {exc}") from None


def _build(
    entry: dict[str, Any], services: Mapping[str, str], http: DownstreamClient | None
) -> Tool:
    unknown = sorted(set(entry) - _TOOL_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("needs a description")
    parameters = entry.get("parameters")
    if not isinstance(parameters, dict):
        raise ValueError("needs parameters: a JSON Schema of type object")
    timeout = entry.get("timeout_seconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise ValueError("timeout_seconds must be a positive number")
    if ("http" in entry) == ("python" in entry):
        raise ValueError("needs exactly one of 'http' and 'python'")
    if "python" in entry:
        function = _import(entry["python"])
        return tool(
            function,
            parameters=parameters,
            name=entry["name"],
            description=description,
            timeout_seconds=timeout,
        )
    route = _route(entry["http"], services, parameters)
    return Tool(
        name=entry["name"],
        description=description,
        parameters=parameters,
        runner=HttpTool(route, http, timeout),
        service=route.service,
        timeout_seconds=timeout,
    )


def _route(raw: object, services: Mapping[str, str], parameters: Mapping[str, Any]) -> HttpRoute:
    if not isinstance(raw, dict):
        raise ValueError("http must be a mapping with service, method and path")
    unknown = sorted(set(raw) - _HTTP_KEYS)
    if unknown:
        raise ValueError(f"unknown http key {unknown[0]!r}")
    service = raw.get("service")
    if service not in services:
        raise ValueError(f"unknown service {service!r} (known: {', '.join(sorted(services))})")
    method = str(raw.get("method", "POST")).upper()
    if method not in METHODS:
        raise ValueError(f"http.method must be one of {', '.join(METHODS)}, not {method!r}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("http.path must be a path starting with '/'")
    body = raw.get("body", "arguments")
    if body not in _BODIES:
        raise ValueError(f"http.body must be one of {', '.join(_BODIES)}, not {body!r}")
    route = HttpRoute(str(service), services[str(service)], method, path, body)
    try:
        taken = route.placeholders()
    except ValueError:
        raise ValueError(f"http.path {path!r} has a malformed placeholder") from None
    required = parameters.get("required", [])
    for name in taken:
        if not name.isidentifier() or name not in required:
            raise ValueError(f"http.path placeholder {{{name}}} must be a required parameter")
    return route


def _import(target: object) -> Callable[..., Any]:
    if not isinstance(target, str) or target.count(":") != 1:
        raise ValueError("python must be 'package.module:function'")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} ({exc})") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"{target!r} is not a callable")
    return cast(Callable[..., Any], function)
