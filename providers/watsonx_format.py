"""IBM watsonx.ai chat (``POST /ml/v1/text/chat``) to and from the neutral types.

Pure functions: the API process runs :func:`check_watsonx_request` on every request routed
to a watsonx instance. The wire format is OpenAI-like, with these differences: the model is
``model_id`` and the body names a ``project_id`` or ``space_id``; the tool choice is split
into ``tool_choice_option`` (auto, none, required) and ``tool_choice`` (a named function),
never both; system, assistant and tool contents are plain strings (only user messages carry
content parts); errors are ``{"errors": [{"code", "message", "more_info"}], "trace",
"status_code"}``. ``seed``, the penalties, ``logit_bias`` and ``reasoning_effort`` (low,
medium or high) keep OpenAI's names; ``response_format`` too, except that a JSON schema's
``json_schema`` has no ``description`` (``name``, ``schema``, ``strict``: the SDK's
``TextChatResponseJsonSchema``). Reference: https://cloud.ibm.com/apidocs/watsonx-ai#text-chat
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, assert_never

from gateway.errors import InvalidRequest
from providers.json_fields import tool_arguments
from providers.types import (
    ChatRequest,
    ChatResponse,
    DocumentPart,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)
from providers.upstream_errors import malformed_reply

DEFAULT_API_VERSION = "2024-05-31"
CHAT_PATH = "/ml/v1/text/chat"
# The same chat, answered as server-sent chat.completion.chunk events.
CHAT_STREAM_PATH = "/ml/v1/text/chat_stream"
_TOOL_CHOICE_OPTIONS = ("auto", "none", "required")
_REASONING_EFFORTS = ("low", "medium", "high")
# "time_limit": the request's time_limit cut the reply short, as a token limit would.
# Others ("cancelled", "error") fall back to stop, or tool_calls when calls came back.
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "time_limit": "length",
    "tool_calls": "tool_calls",
}


def chat_url(base_url: str, api_version: str, *, stream: bool = False) -> str:
    """The chat endpoint, or its streaming twin; ``version`` is required on every
    watsonx.ai call."""
    path = CHAT_STREAM_PATH if stream else CHAT_PATH
    return f"{base_url.rstrip('/')}{path}?version={api_version}"


def chat_request_to_watsonx(
    req: ChatRequest,
    *,
    project_id: str | None = None,
    space_id: str | None = None,
    time_limit_ms: int | None = None,
) -> dict[str, Any]:
    """The JSON body of a text-chat call; ``InvalidRequest`` for what it cannot carry."""
    body: dict[str, Any] = {
        "model_id": req.model,
        "messages": [_message_to_watsonx(m, f"messages[{i}]") for i, m in enumerate(req.messages)],
    }
    # A deployment space replaces the project; the API wants exactly one of them.
    if space_id:
        body["space_id"] = space_id
    elif project_id:
        body["project_id"] = project_id
    if req.tools:
        body["tools"] = [_tool_to_watsonx(t) for t in req.tools]
    if req.tool_choice in _TOOL_CHOICE_OPTIONS:
        body["tool_choice_option"] = req.tool_choice
    elif req.tool_choice is not None:
        body["tool_choice"] = {"type": "function", "function": {"name": req.tool_choice}}
    optional: dict[str, Any] = {
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stop": list(req.stop) or None,
        "time_limit": time_limit_ms,
        "seed": req.seed,
        "presence_penalty": req.presence_penalty,
        "frequency_penalty": req.frequency_penalty,
        "logit_bias": dict(req.logit_bias) if req.logit_bias else None,
        "response_format": _response_format(req.response_format),
        "reasoning_effort": _reasoning_effort(req.reasoning_effort),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def _response_format(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name, "strict": fmt.strict}
    if fmt.schema is not None:
        spec["schema"] = dict(fmt.schema)
    return {"type": "json_schema", "json_schema": spec}


def _reasoning_effort(effort: str | None) -> str | None:
    if effort is not None and effort not in _REASONING_EFFORTS:
        raise InvalidRequest(
            f"reasoning_effort: watsonx.ai takes low, medium or high, not {effort!r}",
            param="reasoning_effort",
        )
    return effort


def check_watsonx_request(req: ChatRequest) -> None:
    """Refuse what the chat API cannot carry (images outside user messages, tool-call
    arguments that are not JSON): the mapping is pure, so running it is the check."""
    chat_request_to_watsonx(req)


def _message_to_watsonx(m: Message, param: str) -> dict[str, Any]:
    match m.role:
        case "user":
            return {"role": "user", "content": _user_content(m)}
        case "system":
            return {"role": "system", "content": _plain_text(m, param)}
        case "assistant":
            out: dict[str, Any] = {"role": "assistant"}
            text = _plain_text(m, param)
            if text or not m.tool_calls:
                out["content"] = text
            if m.tool_calls:
                out["tool_calls"] = [
                    _tool_call_to_watsonx(c, f"{param}.tool_calls[{j}]")
                    for j, c in enumerate(m.tool_calls)
                ]
            return out
        case "tool":
            if m.tool_call_id is None:
                raise InvalidRequest(
                    f"{param}.tool_call_id: is required", param=f"{param}.tool_call_id"
                )
            return {
                "role": "tool",
                "tool_call_id": m.tool_call_id,
                "content": _plain_text(m, param),
            }
        case _:
            assert_never(m.role)


def _user_content(m: Message) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in m.content) and len(m.content) <= 1:
        return m.text
    parts: list[dict[str, Any]] = []
    for part in m.content:
        match part:
            case TextPart(text=text):
                parts.append({"type": "text", "text": text})
            case ImagePart(url=url, detail=detail):
                image = {"url": url} if detail is None else {"url": url, "detail": detail}
                parts.append({"type": "image_url", "image_url": image})
            case DocumentPart():
                raise InvalidRequest(
                    "messages: watsonx.ai does not accept documents", param="messages"
                )
            case _:
                assert_never(part)
    return parts


def _plain_text(m: Message, param: str) -> str:
    """System, assistant and tool messages take a string: images cannot go there."""
    for j, part in enumerate(m.content):
        if isinstance(part, ImagePart | DocumentPart):
            where = f"{param}.content[{j}]"
            message = f"{where}: watsonx.ai accepts images only in user messages, not {m.role}"
            raise InvalidRequest(message, param=where)
    return m.text


def _tool_call_to_watsonx(call: ToolCall, param: str) -> dict[str, Any]:
    arguments = call.arguments if call.arguments.strip() else "{}"
    tool_arguments(arguments, f"{param}.function.arguments")
    function = {"name": call.name, "arguments": arguments}
    return {"id": call.id, "type": "function", "function": function}


def _tool_to_watsonx(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = dict(tool.parameters) or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def chat_response_from_watsonx(body: object) -> ChatResponse:
    """Parse a text-chat response (first choice only); ``ProviderError`` if malformed."""
    if not isinstance(body, Mapping):
        raise malformed_reply("watsonx.ai chat response: not an object")
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(message, Mapping):
        raise malformed_reply("watsonx.ai chat response: no choices[0].message")
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    calls = _tool_calls_from_watsonx(message.get("tool_calls"))
    reason = choice.get("finish_reason") if isinstance(choice, Mapping) else None
    model = body.get("model_id") or body.get("model")
    response_id = body.get("id")
    return ChatResponse(
        message=Message(
            role="assistant", content=(TextPart(text),) if text else (), tool_calls=calls
        ),
        finish_reason=finish_reason_from_watsonx(reason, bool(calls)),
        usage=_usage(body.get("usage")),
        model=model if isinstance(model, str) else "",
        provider_response_id=response_id if isinstance(response_id, str) else None,
    )


def finish_reason_from_watsonx(reason: object, has_tool_calls: bool) -> FinishReason:
    """The neutral finish reason of a choice's (or a stream chunk's) ``finish_reason``;
    without a known one, ``tool_calls`` when there are calls, else ``stop``."""
    finish = _FINISH_REASONS.get(reason) if isinstance(reason, str) else None
    return finish or ("tool_calls" if has_tool_calls else "stop")


def _tool_calls_from_watsonx(value: object) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise malformed_reply("watsonx.ai chat response: tool_calls is not a list")
    calls = []
    for i, raw in enumerate(value):
        match raw:
            case {"id": str(call_id), "function": {"name": str(name), **function}}:
                arguments = function.get("arguments")
                # Some models answer with an object rather than JSON text.
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments if arguments is not None else {})
                calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
            case _:
                raise malformed_reply(f"watsonx.ai chat response: tool_calls[{i}]")
    return tuple(calls)


def _usage(usage: object) -> Usage:
    return Usage.counted(usage, ("prompt_tokens",), ("completion_tokens",))


def watsonx_error(body: object) -> tuple[str | None, str | None]:
    """``(code, message)`` of the first entry of a watsonx.ai error body, if it has one."""
    errors = body.get("errors") if isinstance(body, Mapping) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, Mapping):
        return None, None
    code, message = first.get("code"), first.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) and message.strip() else None,
    )
