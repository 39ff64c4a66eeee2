"""OCI Generative AI chat (GENERIC api format) to and from the neutral types.

Pure: the REST JSON of ``POST /20231130/actions/chat`` (camelCase, as the API reference
documents it), no SDK import, so the API process can run :func:`check_oci_request` on every
request. Where the format differs from OpenAI's: roles and content-part types are upper
case, tool calls are flat (``{"type": "FUNCTION", "id", "name", "arguments"}``), the model
sits in ``servingMode``, and the reply has no id (the ``opc-request-id`` header is one).
The OpenAI parameters GENERIC has are camelCase: ``seed``, ``presencePenalty``,
``frequencyPenalty``, ``logitBias``, ``isParallelToolCalls``, ``metadata``,
``reasoningEffort`` (upper case: NONE, MINIMAL, LOW, MEDIUM, HIGH) and ``responseFormat``
(``{"type": "JSON_OBJECT"}`` or ``{"type": "JSON_SCHEMA", "jsonSchema": {"name",
"description", "schema", "isStrict"}}``), as the SDK's ``GenericChatRequest`` names them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, assert_never

from gateway.errors import InvalidRequest, ProviderError
from providers.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
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

_ROLES = {"system": "SYSTEM", "user": "USER", "assistant": "ASSISTANT", "tool": "TOOL"}
_TOOL_CHOICES = {"auto": "AUTO", "none": "NONE", "required": "REQUIRED"}
_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")
# GENERIC models report OpenAI-style reasons in lower case; some report Cohere-style ones.
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "complete": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "tool_call": "tool_calls",
    "content_filter": "content_filter",
    "content_filtered": "content_filter",
    "error_toxic": "content_filter",
}
# A dedicated AI cluster endpoint is named by its OCID instead of a model id.
_ENDPOINT_OCID = "ocid1.generativeaiendpoint."
# Only these vendors' models speak the GENERIC format; Cohere's speak COHERE.
_COHERE_PREFIX = "cohere."


def chat_request_to_oci(
    req: ChatRequest, *, compartment_id: str, stream: bool = False
) -> dict[str, Any]:
    """The ``ChatDetails`` JSON body, streamed (with usage) or not; ``InvalidRequest`` for
    what GENERIC cannot carry."""
    if req.model.startswith(_COHERE_PREFIX):
        raise InvalidRequest(
            f"model {req.model!r}: OCI serves Cohere models in its COHERE chat format, which "
            "this gateway does not speak; use a GENERIC-format model (meta.*, xai.*, google.*)",
            param="model",
        )
    chat: dict[str, Any] = {
        "apiFormat": "GENERIC",
        "messages": [_message_to_oci(m, f"messages[{i}]") for i, m in enumerate(req.messages)],
        "isStream": stream,
    }
    if stream:  # usage comes in a last event of its own only when asked for
        chat["streamOptions"] = {"isIncludeUsage": True}
    if req.tools:
        chat["tools"] = [_tool_to_oci(t) for t in req.tools]
    if req.tool_choice is not None:
        kind = _TOOL_CHOICES.get(req.tool_choice)
        chat["toolChoice"] = (
            {"type": kind} if kind else {"type": "FUNCTION", "name": req.tool_choice}
        )
    optional = {
        "maxTokens": req.max_tokens,
        "temperature": req.temperature,
        "topP": req.top_p,
        "seed": req.seed,
        "presencePenalty": req.presence_penalty,
        "frequencyPenalty": req.frequency_penalty,
        "logitBias": dict(req.logit_bias) if req.logit_bias else None,
        "isParallelToolCalls": req.parallel_tool_calls,
        "metadata": dict(req.metadata) if req.metadata else None,
        "reasoningEffort": _reasoning_effort(req.reasoning_effort),
        "responseFormat": _response_format(req.response_format),
    }
    chat |= {k: v for k, v in optional.items() if v is not None}
    if req.stop:
        chat["stop"] = list(req.stop)
    if req.model.startswith(_ENDPOINT_OCID):
        serving = {"servingType": "DEDICATED", "endpointId": req.model}
    else:
        serving = {"servingType": "ON_DEMAND", "modelId": req.model}
    return {"compartmentId": compartment_id, "servingMode": serving, "chatRequest": chat}


def _reasoning_effort(effort: str | None) -> str | None:
    if effort is None:
        return None
    if effort not in _REASONING_EFFORTS:
        raise InvalidRequest(
            f"reasoning_effort: OCI takes none, minimal, low, medium or high, not {effort!r}",
            param="reasoning_effort",
        )
    return effort.upper()


def _response_format(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if fmt.type == "json_object":
        return {"type": "JSON_OBJECT"}
    spec: dict[str, Any] = {"name": fmt.name, "isStrict": fmt.strict}
    if fmt.schema is not None:
        spec["schema"] = dict(fmt.schema)
    if fmt.description:
        spec["description"] = fmt.description
    return {"type": "JSON_SCHEMA", "jsonSchema": spec}


def check_oci_request(req: ChatRequest) -> None:
    """Refuse what the GENERIC format cannot carry (Cohere models, image links): the
    mapping is pure, so running it is the check."""
    chat_request_to_oci(req, compartment_id="check")


def _message_to_oci(m: Message, param: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": _ROLES[m.role]}
    parts = [_part_to_oci(p, f"{param}.content[{i}]") for i, p in enumerate(m.content)]
    if m.role == "assistant" and m.tool_calls:
        # The API asks for null, not "", beside tool calls.
        out["content"] = parts or None
        out["toolCalls"] = [
            {"type": "FUNCTION", "id": c.id, "name": c.name, "arguments": c.arguments}
            for c in m.tool_calls
        ]
    else:
        out["content"] = parts or [{"type": "TEXT", "text": ""}]
    if m.role == "tool":
        out["toolCallId"] = m.tool_call_id
    elif m.name is not None:
        out["name"] = m.name
    return out


def _part_to_oci(part: ContentPart, param: str) -> dict[str, Any]:
    match part:
        case TextPart(text=text):
            return {"type": "TEXT", "text": text}
        case ImagePart(url=url, detail=detail):
            if not url.startswith("data:"):
                raise InvalidRequest(
                    f"{param}: OCI Generative AI takes images as base64 data: URLs, not links",
                    param=param,
                )
            image = {"url": url} if detail is None else {"url": url, "detail": detail.upper()}
            return {"type": "IMAGE", "imageUrl": image}
        case DocumentPart():
            raise InvalidRequest(
                f"{param}: OCI Generative AI does not accept documents", param=param
            )
        case _:
            assert_never(part)


def _tool_to_oci(tool: ToolDefinition) -> dict[str, Any]:
    # A tool without parameters still needs an object schema.
    schema = dict(tool.parameters) or {"type": "object", "properties": {}}
    out: dict[str, Any] = {"type": "FUNCTION", "name": tool.name, "parameters": schema}
    if tool.description:
        out["description"] = tool.description
    return out


def chat_response_from_oci(
    body: Mapping[str, Any], *, request_id: str | None = None
) -> ChatResponse:
    """Parse a ``ChatResult`` (GENERIC); the first choice only. ``request_id`` is the
    response's ``opc-request-id`` header, OCI's only id for the exchange."""
    chat = body.get("chatResponse")
    if not isinstance(chat, Mapping):
        raise malformed_reply("OCI chat result: chatResponse is not an object")
    if chat.get("apiFormat", "GENERIC") != "GENERIC":
        raise ProviderError(f"unexpected OCI chat format {chat.get('apiFormat')!r}")
    choices = chat.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise malformed_reply("OCI chat result: no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise malformed_reply("OCI chat result: choices[0].message is not an object")
    text = text_of(message.get("content"))
    # Seeds ids for calls sent without one: the same call in two turns must differ.
    exchange = f"{request_id}|{chat.get('timeCreated')}"
    calls = _tool_calls_from_oci(message.get("toolCalls"), exchange)
    model = body.get("modelId")
    return ChatResponse(
        message=Message(
            role="assistant", content=(TextPart(text),) if text else (), tool_calls=calls
        ),
        finish_reason=finish_reason_from_oci(choice.get("finishReason"), bool(calls)),
        usage=oci_usage(chat.get("usage")),
        model=model if isinstance(model, str) else "",
        provider_response_id=request_id,
    )


def finish_reason_from_oci(reason: object, has_tool_calls: bool) -> FinishReason:
    """The neutral finish reason of a choice's (or a stream's) ``finishReason``, in any
    case; without a known one, ``tool_calls`` when there are calls, else ``stop``."""
    finish = _FINISH_REASONS.get(reason.lower()) if isinstance(reason, str) else None
    return finish or ("tool_calls" if has_tool_calls else "stop")


def text_of(content: object) -> str:
    """The text parts joined; null content (beside tool calls) is no text."""
    if content is None:
        return ""
    if not isinstance(content, list):
        raise malformed_reply("OCI chat result: message content is not a list")
    return "".join(
        part["text"]
        for part in content
        if isinstance(part, Mapping)
        and part.get("type") == "TEXT"
        and isinstance(part.get("text"), str)
    )


def _tool_calls_from_oci(value: object, exchange: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise malformed_reply("OCI chat result: toolCalls is not a list")
    calls = []
    for i, raw in enumerate(value):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if not isinstance(name, str) or raw.get("type", "FUNCTION") != "FUNCTION":
            raise malformed_reply(f"OCI chat result: toolCalls[{i}]")
        arguments = raw.get("arguments")
        arguments = arguments if isinstance(arguments, str) and arguments else "{}"
        call_id = raw.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = synthetic_id(exchange, i, name, arguments)
        calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
    return tuple(calls)


def synthetic_id(exchange: str, index: int, name: str, arguments: str) -> str:
    """An id for a call the model sent without one: the tool result must name it. Derived
    from the exchange (request id, creation time), so parsing one response twice gives the
    same ids while the same call in a later turn gets new ones."""
    seed = f"{exchange}|{index}|{name}|{arguments}"
    digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
    return f"call_{digest}"


def oci_usage(usage: object) -> Usage:
    """A chat result's (or a stream's last event's) ``usage`` as neutral usage."""
    return Usage.counted(usage, ("promptTokens",), ("completionTokens",))
