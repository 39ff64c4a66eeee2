"""An Anthropic Messages API request as the gateway's chat request (OpenAI's format), which
is then checked, routed and run like any ``/v1/chat/completions`` body.

Where the formats differ: the system prompt is a top-level field (here: a first system
message); tool results are ``tool_result`` blocks of a user turn (here: ``tool`` messages,
before the rest of that turn); tool arguments are an object (here: its JSON text); a
document is OpenAI's ``file`` part with a ``data:`` URL (one by URL or in a storage route,
the gateway's ``document`` part, which the worker reads). A ``tool_result`` with
``is_error`` reaches the model as its text prefixed ``Error: `` (OpenAI's tool messages
have no error flag). ``cache_control`` is dropped: it changes the price, not the answer.
``output_config`` and ``service_tier`` become ``response_format``, ``reasoning_effort``
and ``service_tier``, which each provider type carries or refuses (``providers.parameters``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from api.schemas.messages import (
    Base64ImageSource,
    Base64PdfSource,
    DocumentBlock,
    ImageBlock,
    InputMessage,
    MessageCreate,
    MessageTokensCount,
    PlainTextSource,
    StorageSource,
    TextBlock,
    Tool,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolResultBlock,
    ToolUseBlock,
    UrlSource,
)
from gateway.errors import InvalidRequest

ERROR_PREFIX = "Error: "


def chat_request(body: MessageTokensCount) -> dict[str, Any]:
    """The chat request for ``body``: a ``MessageCreate`` (every field) or a token count's
    (no output options). Never ``stream``: the route sets it."""
    request: dict[str, Any] = {"model": body.model, "messages": _messages(body)}
    if body.tools:
        request["tools"] = [_tool(t) for t in body.tools]
    choice = body.tool_choice
    if choice is not None:
        request["tool_choice"] = _tool_choice(choice)
        if not isinstance(choice, ToolChoiceNone) and choice.disable_parallel_tool_use:
            request["parallel_tool_calls"] = False
    if body.provider is not None:
        request["provider"] = body.provider
    if isinstance(body, MessageCreate):
        request["max_tokens"] = body.max_tokens
        optional = {"temperature": body.temperature, "top_p": body.top_p}
        request |= {k: v for k, v in optional.items() if v is not None}
        if body.stop_sequences:
            request["stop"] = list(body.stop_sequences)
        if body.metadata is not None and body.metadata.user_id is not None:
            request["user"] = body.metadata.user_id
        request |= _output_options(body)
    return request


def _output_options(body: MessageCreate) -> dict[str, Any]:
    """``output_config`` and ``service_tier`` as the chat request's fields: Anthropic's
    structured outputs are always strict; ``standard_only`` is OpenAI's ``default`` tier."""
    out: dict[str, Any] = {}
    config = body.output_config
    if config is not None and config.format is not None:
        spec = {"name": "output", "schema": config.format.schema_, "strict": True}
        out["response_format"] = {"type": "json_schema", "json_schema": spec}
    if config is not None and config.effort is not None:
        out["reasoning_effort"] = config.effort
    if body.service_tier is not None:
        out["service_tier"] = "default" if body.service_tier == "standard_only" else "auto"
    return out


def _messages(body: MessageTokensCount) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    system = body.system
    if isinstance(system, list):
        system = "\n\n".join(block.text for block in system)
    if system:
        out.append({"role": "system", "content": system})
    for i, message in enumerate(body.messages):
        out.extend(_turn(message, f"messages[{i}]"))
    return out


def _turn(message: InputMessage, param: str) -> list[dict[str, Any]]:
    """One Anthropic turn as OpenAI messages: its tool results as ``tool`` messages first,
    then the rest of the turn (if any)."""
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(message.content):
        where = f"{param}.content[{j}]"
        match block:
            case ToolResultBlock():
                if message.role != "user":
                    raise InvalidRequest(
                        f"{where}: tool_result blocks belong in user turns", param=where
                    )
                results.append(_tool_result(block, where))
            case ToolUseBlock():
                if message.role != "assistant":
                    raise InvalidRequest(
                        f"{where}: tool_use blocks belong in assistant turns", param=where
                    )
                arguments = json.dumps(block.input)
                function = {"name": block.name, "arguments": arguments}
                calls.append({"id": block.id, "type": "function", "function": function})
            case _:
                parts.append(_part(block))
    out = results
    if message.role == "assistant":
        texts = [p for p in parts if p["type"] == "text"]
        if len(texts) == len(parts):  # text only: OpenAI's plain assistant content
            content: Any = "".join(p["text"] for p in texts) or None
        else:
            content = parts
        reply: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            reply["tool_calls"] = calls
        if content is not None or calls:
            out.append(reply)
    elif parts or not results:
        out.append({"role": "user", "content": parts})
    return out


def _part(block: TextBlock | ImageBlock | DocumentBlock) -> dict[str, Any]:
    match block:
        case TextBlock(text=text):
            return {"type": "text", "text": text}
        case ImageBlock(source=source):
            return {"type": "image_url", "image_url": {"url": _url(source)}}
        case DocumentBlock(source=UrlSource(url=url), title=title):
            return _seed_document({"type": "url", "url": url}, title)
        case DocumentBlock(source=StorageSource(route=route, bucket=bucket, key=key), title=title):
            storage = {"type": "storage", "route": route, "bucket": bucket, "key": key}
            return _seed_document(storage, title)
        case DocumentBlock(source=Base64PdfSource() | PlainTextSource() as source, title=title):
            file: dict[str, Any] = {"file_data": _url(source)}
            if title is not None:
                file["filename"] = title
            return {"type": "file", "file": file}
    raise AssertionError(f"unhandled content block {type(block).__name__}")


def _seed_document(source: dict[str, Any], title: str | None) -> dict[str, Any]:
    """The gateway's ``document`` part: read by the worker, not the vendor."""
    part: dict[str, Any] = {"type": "document", "source": source}
    if title is not None:
        part["title"] = title
    return part


def _url(source: Base64ImageSource | Base64PdfSource | PlainTextSource | UrlSource) -> str:
    match source:
        case UrlSource(url=url):
            return url
        case PlainTextSource(data=data):
            return f"data:text/plain;base64,{base64.b64encode(data.encode()).decode()}"
        case (
            Base64ImageSource(media_type=kind, data=data)
            | Base64PdfSource(media_type=kind, data=data)
        ):
            return f"data:{kind};base64,{data}"


def _tool_result(block: ToolResultBlock, param: str) -> dict[str, Any]:
    content = block.content
    if isinstance(content, list):
        if any(isinstance(b, ImageBlock) for b in content):
            where = f"{param}.content"
            raise InvalidRequest(
                f"{where}: images in tool results are not supported by the gateway", param=where
            )
        text = "".join(b.text for b in content if isinstance(b, TextBlock))
    else:
        text = content or ""
    if block.is_error:
        text = ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": text}


def _tool(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _tool_choice(choice: ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone) -> Any:
    match choice:
        case ToolChoiceAuto():
            return "auto"
        case ToolChoiceAny():
            return "required"
        case ToolChoiceNone():
            return "none"
        case ToolChoiceTool(name=name):
            return {"type": "function", "function": {"name": name}}
