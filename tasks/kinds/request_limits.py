"""``RequestLimits``: how much one chat request may ask for — messages, tools, the size
and nesting of each JSON Schema it carries, and its message content in all.

Every endpoint that takes a chat request checks it here, before parsing it further: a
request's cost to the API (and later to a worker and the provider) grows with each of
these, and the body limit alone lets one request name thousands of tools. Counts and
nesting over a limit are a 400, content over its limit a 413; each message names the
limit, its value and the setting that raises it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidRequest, PayloadTooLarge, field_path
from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class RequestLimits:
    max_messages: int
    max_tools: int
    max_schema_bytes: int
    max_schema_depth: int
    max_content_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        return cls(
            max_messages=settings.request_max_messages,
            max_tools=settings.request_max_tools,
            max_schema_bytes=settings.request_max_schema_bytes,
            max_schema_depth=settings.request_max_schema_depth,
            max_content_bytes=settings.request_max_content_bytes,
        )

    def check_chat(self, request: Mapping[str, Any], param: str = "") -> None:
        """A chat request's messages, tools and schemas (``param``: where it sits in the
        body; "" when it is the body). Malformed parts are left to the parser."""
        messages = request.get("messages")
        if isinstance(messages, list):
            self.check_messages(messages, field_path(param, "messages"))
        tools = request.get("tools")
        if isinstance(tools, list):
            if len(tools) > self.max_tools:
                raise _over(
                    field_path(param, "tools"),
                    f"{len(tools)} tools",
                    f"at most {self.max_tools} are allowed",
                    "REQUEST_MAX_TOOLS",
                )
            for i, tool in enumerate(tools):
                function = tool.get("function") if isinstance(tool, dict) else None
                if isinstance(function, dict) and "parameters" in function:
                    path = field_path(param, "tools", i, "function", "parameters")
                    self.check_schema(function["parameters"], path)
        response_format = request.get("response_format")
        json_schema = (
            response_format.get("json_schema") if isinstance(response_format, dict) else None
        )
        if isinstance(json_schema, dict) and "schema" in json_schema:
            path = field_path(param, "response_format", "json_schema", "schema")
            self.check_schema(json_schema["schema"], path)

    def check_messages(
        self, messages: Sequence[object], param: str, max_messages: int | None = None
    ) -> None:
        """How many messages (at most ``max_messages``, default the chat limit) and how
        much content they carry together."""
        limit = self.max_messages if max_messages is None else max_messages
        if len(messages) > limit:
            setting = "REQUEST_MAX_MESSAGES" if max_messages is None else "SESSION_MAX_MESSAGES"
            raise _over(param, f"{len(messages)} messages", f"at most {limit} are allowed", setting)
        total = sum(_utf8_len(text) for text in _content_strings(messages))
        if total > self.max_content_bytes:
            raise PayloadTooLarge(
                f"{param}: the message content is {total} bytes; at most "
                f"{self.max_content_bytes} are allowed (LLM_GATEWAY_REQUEST_MAX_CONTENT_BYTES)",
                param=param,
            )

    def check_schema(self, schema: object, param: str) -> None:
        """One JSON Schema's size (compact JSON) and nesting."""
        try:
            encoded = orjson.dumps(schema)
        except orjson.JSONEncodeError:
            return  # not storable: the store's check names it
        size = len(encoded)
        if size > self.max_schema_bytes:
            raise _over(
                param,
                f"the schema is {size} bytes",
                f"at most {self.max_schema_bytes} are allowed",
                "REQUEST_MAX_SCHEMA_BYTES",
            )
        depth = _depth(encoded, self.max_schema_depth)
        if depth > self.max_schema_depth:
            raise _over(
                param,
                f"the schema nests deeper than {self.max_schema_depth} levels",
                f"at most {self.max_schema_depth} are allowed",
                "REQUEST_MAX_SCHEMA_DEPTH",
            )


def _over(param: str, found: str, allowed: str, setting: str) -> InvalidRequest:
    return InvalidRequest(
        f"{param}: {found}; {allowed} (LLM_GATEWAY_{setting})", param=param or None
    )


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _content_strings(messages: Sequence[object]) -> Iterator[str]:
    """The text a message carries to the model: its content (text parts, refusals, image
    URLs, documents' data) and its tool calls' arguments."""
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    yield from _part_strings(part)
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(arguments, str):
                yield arguments


def _part_strings(part: dict[str, Any]) -> Iterator[str]:
    for key in ("text", "refusal"):
        value = part.get(key)
        if isinstance(value, str):
            yield value
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    if isinstance(url, str):
        yield url
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    if isinstance(data, str):
        yield data
    # A document part's inline data or URL: its size is not the document's (which the
    # worker bounds by DOCUMENT_MAX_BYTES when it reads it), but it is in the body.
    source = part.get("source") if part.get("type") == "document" else None
    if isinstance(source, dict):
        for key in ("data", "url"):
            value = source.get(key)
            if isinstance(value, str):
                yield value


# Every byte but brackets and quotes deleted; then each bracket as ``{`` or ``}``.
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'{}[]"')
_ONE_KIND = bytes.maketrans(b"[]", b"{}")


def _depth(encoded: bytes, stop_above: int) -> int:
    """Nesting of compact JSON text (``orjson.dumps``) in objects and arrays: a scalar is
    0, ``{}`` is 1; stops counting once past ``stop_above``.

    Works on the text at C speed rather than walking the value in Python (a 1 MiB body of
    schemas is ~100k nodes): escaped backslashes and quotes go first (left to right, as a
    parser pairs them), then everything but brackets and quotes, then the strings, which
    are what lies between quote pairs. Each pass then deletes the innermost brackets."""
    text = encoded.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(text.split(b'"')[::2]).translate(_ONE_KIND)
    depth = 0
    while brackets and depth <= stop_above:
        brackets = brackets.replace(b"{}", b"")
        depth += 1
    return depth
