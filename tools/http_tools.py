"""Tools that call a downstream service over HTTP: ``HttpRoute`` says where a call goes and
what it sends, ``HttpTool`` is the tool's runner."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import orjson

from gateway.errors import InvalidToolArguments, ToolUnavailable
from tools.downstream import DownstreamClient

BodyShape = Literal["arguments", "input"]
METHODS = ("GET", "POST")


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """``method base_url + path``. ``{name}`` placeholders in ``path`` are filled from the
    arguments of the same name (URL-quoted) and left out of the body. The rest is the JSON
    body: the arguments as they are, or ``{"input": arguments}``; a GET sends them as the
    query string instead."""

    service: str
    base_url: str
    method: str
    path: str
    body: BodyShape = "arguments"

    def placeholders(self) -> tuple[str, ...]:
        """The argument names ``path`` takes, in order."""
        fields = (name for _, name, _, _ in string.Formatter().parse(self.path))
        return tuple(name for name in fields if name is not None)

    def url(self, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The URL for these arguments and the arguments left for the body or query."""
        taken = self.placeholders()
        filled = self.path.format_map({name: _segment(name, arguments[name]) for name in taken})
        rest = {key: value for key, value in arguments.items() if key not in taken}
        return self.base_url.rstrip("/") + filled, rest


@dataclass(frozen=True, slots=True)
class HttpTool:
    """Runner of an HTTP tool. Without a client (a registry built only to list and validate
    tools) a call reports the tool as unavailable here."""

    route: HttpRoute
    client: DownstreamClient | None
    timeout_seconds: float | None = None

    def __call__(self, arguments: Mapping[str, Any]) -> Any:
        if self.client is None:
            raise ToolUnavailable("tool calls to services are not set up in this process")
        url, rest = self.route.url(arguments)
        if self.route.method == "GET":
            params = {key: _scalar(value) for key, value in rest.items()}
            return self.client.request(
                self.route.service, "GET", url, params=params, timeout_seconds=self.timeout_seconds
            )
        body: object = {"input": rest} if self.route.body == "input" else rest
        return self.client.request(
            self.route.service,
            self.route.method,
            url,
            json=body,
            timeout_seconds=self.timeout_seconds,
        )


def _segment(name: str, value: object) -> str:
    """One URL path segment from an argument. Quoting leaves "." alone, and the HTTP client
    resolves "." and ".." segments, so a model could otherwise walk up the tool's path."""
    text = _scalar(value)
    if text in ("", ".", ".."):
        raise InvalidToolArguments(
            f"arguments.{name}: {text!r} is not a valid path segment", param=f"arguments.{name}"
        )
    return quote(text, safe="")


def _scalar(value: object) -> str:
    """An argument as URL text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
