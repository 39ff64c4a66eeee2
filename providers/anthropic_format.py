"""The Anthropic Messages API's wire format to and from the neutral types.

Pure (the API process runs :func:`check_anthropic_request` on every request routed to an
Anthropic instance). Where the formats differ: the system prompt is a top-level field; tool
results are ``tool_result`` blocks inside a *user* message; tool arguments are a JSON
object, not text; ``max_tokens`` is required. OpenAI's other parameters:
``response_format`` json_schema is ``output_config.format`` (structured outputs) and
json_object a forced tool (``providers.output_tool``); ``reasoning_effort`` is
``output_config.effort``; ``parallel_tool_calls: false`` is the tool choice's
``disable_parallel_tool_use``; ``user`` is ``metadata.user_id``; ``service_tier`` auto and
default are ``auto`` and ``standard_only``. Sampling parameters are gone from the API.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, assert_never

from gateway.errors import CapabilityMissing, InvalidRequest, ProviderError
from providers.json_fields import tool_arguments
from providers.output_tool import output_tool
from providers.reasoning_effort import claude_effort
from providers.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    DocumentPart,
    FinishReason,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)
from providers.upstream_errors import malformed_reply

_TOOL_CHOICES: Mapping[str, dict[str, str]] = {
    "auto": {"type": "auto"},
    "none": {"type": "none"},
    "required": {"type": "any"},
}
_SERVICE_TIERS: Mapping[str, str] = {"auto": "auto", "default": "standard_only"}
_STOP_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic accepts these four image types; "image/jpg" is a common misspelling of jpeg.
_DATA_URL_FORM = "data:image/(jpeg|png|gif|webp);base64,..."
_DATA_URL = re.compile(r"data:image/(?P<kind>jpeg|jpg|png|gif|webp);base64,(?P<data>.+)", re.S)


def to_anthropic_request(req: ChatRequest, default_max_tokens: int) -> dict[str, Any]:
    """Keyword arguments for ``messages.create``. ``InvalidRequest`` for what cannot map."""
    # The SDK speaks API version 2026-10-21, which rejects sampling parameters on every
    # model (the parameter table refuses them first; this keeps a stray one a 400, not a
    # TypeError from the SDK's signature).
    for name in ("temperature", "top_p"):
        if getattr(req, name) is not None:
            raise CapabilityMissing(f"Anthropic's API no longer takes {name}", param=name)
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": req.max_tokens if req.max_tokens is not None else default_max_tokens,
        "messages": _messages_to_anthropic(req.messages),
    }
    if req.system_prompt:
        body["system"] = req.system_prompt
    forced = output_tool(req, "Anthropic")
    tools = (forced,) if forced is not None else req.tools
    if tools:
        body["tools"] = [_tool_to_anthropic(t) for t in tools]
    choice = _tool_choice(req, forced.name if forced is not None else req.tool_choice)
    if choice is not None:
        body["tool_choice"] = choice
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.user is not None:
        body["metadata"] = {"user_id": req.user}
    output_config = _output_config(req)
    if output_config:
        body["output_config"] = output_config
    if req.service_tier is not None:
        body["service_tier"] = _service_tier(req.service_tier)
    return body


def _tool_choice(req: ChatRequest, choice: str | None) -> dict[str, Any] | None:
    """``tool_choice``; ``parallel_tool_calls`` rides in it as ``disable_parallel_tool_use``
    (Anthropic's ``none`` choice takes no such flag, and without tools there is nothing to
    run in parallel)."""
    parallel = req.parallel_tool_calls if req.tools else None
    if choice is None and parallel is not None:
        choice = "auto"
    if choice is None:
        return None
    out: dict[str, Any] = dict(_TOOL_CHOICES.get(choice, {"type": "tool", "name": choice}))
    if parallel is not None and choice != "none":
        out["disable_parallel_tool_use"] = not parallel
    return out


def _output_config(req: ChatRequest) -> dict[str, Any]:
    """``output_config``: a JSON schema the reply's text must match (structured outputs),
    and the effort (``reasoning_effort``, see ``providers.reasoning_effort``)."""
    config: dict[str, Any] = {}
    fmt = req.response_format
    if fmt is not None and fmt.type == "json_schema":
        if fmt.schema is None:
            param = "response_format.json_schema.schema"
            raise InvalidRequest(f"{param}: Anthropic needs the schema", param=param)
        config["format"] = {"type": "json_schema", "schema": dict(fmt.schema)}
    if req.reasoning_effort is not None:
        config["effort"] = claude_effort(req.reasoning_effort, "Anthropic")
    return config


def _service_tier(tier: str) -> str:
    # Anthropic's "auto" uses priority capacity when the account has it, as OpenAI's does
    # with the project's tier; "standard_only" is OpenAI's "default".
    mapped = _SERVICE_TIERS.get(tier)
    if mapped is None:
        raise CapabilityMissing(
            f"Anthropic takes service_tier auto or default (its standard_only), not {tier!r}",
            param="service_tier",
        )
    return mapped


# What a token count's request (``messages.count_tokens``) keeps of a message's: its
# input, none of its output options.
_COUNTED = ("model", "messages", "system", "tools", "tool_choice")


def to_anthropic_count_request(req: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``messages.count_tokens``: the message's input, no options."""
    body = to_anthropic_request(req, default_max_tokens=1)
    return {key: body[key] for key in _COUNTED if key in body}


# The Messages API requires max_tokens: sent when the request sets none (an instance's
# ``options.default_max_tokens`` overrides it; the anthropic type and Claude on Vertex).
DEFAULT_MAX_TOKENS = 4096


def default_max_tokens(options: Mapping[str, str], instance: str) -> int:
    """The instance's ``options.default_max_tokens`` (default 4096); ``ValueError``."""
    raw = options.get("default_max_tokens", str(DEFAULT_MAX_TOKENS))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{instance}: options.default_max_tokens must be an integer > 0")
    return int(raw)


def check_anthropic_request(req: ChatRequest) -> None:
    """Refuse what the Messages API cannot carry (bad tool-call JSON, image URLs, ...):
    the mapping is pure, so running it is the check."""
    to_anthropic_request(req, default_max_tokens=1)


def _tool_to_anthropic(tool: ToolDefinition) -> dict[str, Any]:
    # Anthropic requires an object schema, even for a tool without parameters.
    schema = dict(tool.parameters) or {"type": "object", "properties": {}}
    out: dict[str, Any] = {"name": tool.name, "input_schema": schema}
    if tool.description:
        out["description"] = tool.description
    return out


def _messages_to_anthropic(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation; indexes in error params are those of ``messages`` (system included)."""
    out: list[dict[str, Any]] = []
    # The open user message collecting tool results: consecutive tool messages share it.
    results: list[dict[str, Any]] | None = None
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        match m.role:
            case "system":  # lifted into the top-level "system" field
                continue
            case "tool":
                if results is None:
                    results = []
                    out.append({"role": "user", "content": results})
                results.append(_tool_result_block(m, param))
                continue
            case "user":
                blocks = _content_blocks(m.content, param)
            case "assistant":
                blocks = _content_blocks(m.content, param)
                blocks += [
                    _tool_use_block(c, f"{param}.tool_calls[{j}]")
                    for j, c in enumerate(m.tool_calls)
                ]
            case _:
                assert_never(m.role)
        results = None
        out.append({"role": m.role, "content": blocks})
    return out


def _content_blocks(parts: Sequence[ContentPart], param: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        match part:
            case TextPart(text=""):  # Anthropic rejects empty text blocks
                pass
            case TextPart(text=text):
                blocks.append({"type": "text", "text": text})
            case ImagePart(url=url):
                blocks.append(_image_block(url, f"{param}.content[{j}].image_url.url"))
            case DocumentPart():
                blocks.append(_document_block(part, f"{param}.content[{j}].file"))
            case _:
                assert_never(part)
    return blocks


def _document_block(part: DocumentPart, param: str) -> dict[str, Any]:
    """A PDF (inline or by URL) or plain text, as Anthropic's ``document`` block."""
    source: dict[str, Any]
    if part.url is not None:
        source = {"type": "url", "url": part.url}
    elif part.media_type == "application/pdf":
        source = {"type": "base64", "media_type": part.media_type, "data": part.data}
    elif part.media_type == "text/plain":
        try:
            text = base64.b64decode(part.data or "", validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            problem = "the text/plain document is not valid base64 of UTF-8 text"
            raise InvalidRequest(
                f"{param}.file_data: {problem}", param=f"{param}.file_data"
            ) from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        problem = f"Anthropic takes PDF and text/plain documents, not {part.media_type}"
        raise InvalidRequest(f"{param}.file_data: {problem}", param=f"{param}.file_data")
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.filename:
        block["title"] = part.filename
    return block


def _image_block(url: str, param: str) -> dict[str, Any]:
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise InvalidRequest(f"{param}: use an http(s) URL or {_DATA_URL_FORM}", param=param)
    kind = "jpeg" if match["kind"] == "jpg" else match["kind"]
    source = {"type": "base64", "media_type": f"image/{kind}", "data": match["data"]}
    return {"type": "image", "source": source}


def _tool_use_block(call: ToolCall, param: str) -> dict[str, Any]:
    param = f"{param}.function.arguments"
    arguments = tool_arguments(call.arguments, param)
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def _tool_result_block(m: Message, param: str) -> dict[str, Any]:
    if m.tool_call_id is None:
        raise InvalidRequest(f"{param}.tool_call_id: is required", param=f"{param}.tool_call_id")
    has_images = any(isinstance(p, ImagePart) for p in m.content)
    content = _content_blocks(m.content, param) if has_images else m.text
    return {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": content}


def from_anthropic_message(body: Mapping[str, Any]) -> ChatResponse:
    """Parse a Messages API ``message`` object (e.g. the SDK's ``model_dump()``)."""
    blocks = body.get("content")
    if not isinstance(blocks, list):
        raise malformed_reply("Anthropic message: content is not a list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        match block:
            case {"type": "text", "text": str(text)}:
                texts.append(text)
            case {"type": "tool_use", "id": str(call_id), "name": str(name), "input": dict(args)}:
                calls.append(ToolCall(id=call_id, name=name, arguments=json.dumps(args)))
            # Reasoning is not part of the public format.
            case {"type": "thinking" | "redacted_thinking"}:
                pass
            case _:
                kind = block.get("type") if isinstance(block, Mapping) else type(block).__name__
                raise ProviderError(f"unsupported content block {kind!r} in Anthropic message")
    text = "".join(texts)
    model, message_id = body.get("model"), body.get("id")
    return ChatResponse(
        message=Message(
            role="assistant", content=(TextPart(text),) if text else (), tool_calls=tuple(calls)
        ),
        finish_reason=finish_reason_from_anthropic(body.get("stop_reason"), bool(calls)),
        usage=anthropic_usage(body.get("usage")),
        model=model if isinstance(model, str) else "",
        provider_response_id=message_id if isinstance(message_id, str) else None,
    )


def finish_reason_from_anthropic(stop_reason: object, has_tool_calls: bool) -> FinishReason:
    """The neutral finish reason of a ``stop_reason`` (a message's, or a stream's
    ``message_delta``); without a known one, ``tool_calls`` when there are calls, else
    ``stop``."""
    finish = _STOP_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None
    return finish or ("tool_calls" if has_tool_calls else "stop")


def anthropic_usage(usage: object) -> Usage:
    """A message's ``usage`` object (or a stream's, merged) as neutral usage."""
    # input_tokens excludes prompt-cache reads and writes; OpenAI's prompt_tokens counts them.
    cache = ("cache_creation_input_tokens", "cache_read_input_tokens")
    return Usage.counted(usage, ("input_tokens", *cache), ("output_tokens",))
