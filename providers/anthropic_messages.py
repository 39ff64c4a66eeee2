"""The Anthropic Messages API adapter: mapping to and from the neutral types, and its errors.

Where the formats differ: the system prompt is a top-level field; tool results are
``tool_result`` blocks inside a *user* message; tool arguments are a JSON object, not text;
``max_tokens`` is required.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, assert_never

import anthropic

from gateway.errors import InvalidRequest, ProviderError
from providers.config import InstanceConfig
from providers.credentials import Credentials
from providers.json_fields import tool_arguments
from providers.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    FinishReason,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)
from providers.upstream_errors import (
    PLACEHOLDER_API_KEY,
    call_failed,
    decode_reply,
    error_for_status,
    for_instance,
    malformed_reply,
    parse_retry_after,
    timed_out,
    unreachable,
    upstream_message,
)

_TOOL_CHOICES: Mapping[str, dict[str, str]] = {
    "auto": {"type": "auto"},
    "none": {"type": "none"},
    "required": {"type": "any"},
}
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
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": req.max_tokens if req.max_tokens is not None else default_max_tokens,
        "messages": _messages_to_anthropic(req.messages),
    }
    if req.system_prompt:
        body["system"] = req.system_prompt
    if req.tools:
        body["tools"] = [_tool_to_anthropic(t) for t in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = _TOOL_CHOICES.get(
            req.tool_choice, {"type": "tool", "name": req.tool_choice}
        )
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.user is not None:
        body["metadata"] = {"user_id": req.user}
    optional = {"temperature": req.temperature, "top_p": req.top_p}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


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
            case _:
                assert_never(part)
    return blocks


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
    stop_reason = body.get("stop_reason")
    finish = _STOP_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None
    model, message_id = body.get("model"), body.get("id")
    return ChatResponse(
        message=Message(
            role="assistant", content=(TextPart(text),) if text else (), tool_calls=tuple(calls)
        ),
        finish_reason=finish or ("tool_calls" if calls else "stop"),
        usage=_usage(body.get("usage")),
        model=model if isinstance(model, str) else "",
        provider_response_id=message_id if isinstance(message_id, str) else None,
    )


def _usage(usage: object) -> Usage:
    # input_tokens excludes prompt-cache reads and writes; OpenAI's prompt_tokens counts them.
    cache = ("cache_creation_input_tokens", "cache_read_input_tokens")
    return Usage.counted(usage, ("input_tokens", *cache), ("output_tokens",))


def map_anthropic_error(
    exc: anthropic.AnthropicError, *, provider: str, api_key: str
) -> ProviderError:
    """Translate any Anthropic SDK error into the gateway's hierarchy; the one place that does.

    Anthropic's own case: a spend limit is a 429 too, but waiting will not lift it, so it is
    not retryable. The status goes through the shared ladder (529 "overloaded" is a 5xx).
    """
    if not isinstance(exc, anthropic.APIStatusError):
        match exc:
            case anthropic.APITimeoutError():
                return timed_out(provider)
            case anthropic.APIConnectionError():
                return unreachable(provider)
            case _:
                return call_failed(exc, provider=provider)
    status = exc.status_code
    retry_after = parse_retry_after(exc.response.headers)
    message = upstream_message(exc.body, status, api_key)
    spend_limits = (
        anthropic.EnforcedSpendLimitReachedError,
        anthropic.ContractSpendLimitReachedError,
    )
    if isinstance(exc, spend_limits):
        return ProviderError(
            f"the provider account's spend limit is reached: {message}",
            provider=provider,
            upstream_status=status,
            retry_after=retry_after,
        )
    return error_for_status(status, message, provider=provider, retry_after=retry_after)


class AnthropicMessagesProvider:
    """Anthropic via ``POST {base_url}/v1/messages``.

    Options: ``default_max_tokens`` (default 4096), sent when the request sets no limit,
    because the Messages API requires one.
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        self._api_key = credentials.get("api_key") or PLACEHOLDER_API_KEY
        raw = config.options.get("default_max_tokens", "4096")
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{config.name}: options.default_max_tokens must be an integer > 0")
        self._default_max_tokens = int(raw)
        self._client = anthropic.Anthropic(
            base_url=config.base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=config.timeout_seconds,
        )
        # Resolved once here: the SDK loads resources lazily on first use.
        self._create = self._client.messages.with_raw_response.create

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One Messages API call; every failure is a ``ProviderError``."""
        body = to_anthropic_request(request, self._default_max_tokens)
        try:
            # The raw response skips building the SDK's models only to dump them again.
            raw = self._create(**body)
            payload = decode_reply(
                raw.http_response.content,
                raw.http_response.headers.get("content-type"),
                provider=self.instance,
            )
        except anthropic.AnthropicError as exc:
            # "from None": the SDK error holds the request, x-api-key header included.
            raise map_anthropic_error(exc, provider=self.instance, api_key=self._api_key) from None
        try:
            return from_anthropic_message(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.close()
