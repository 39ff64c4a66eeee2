"""OpenAI chat completions, the gateway's public format, to and from the neutral types.

Pure functions. Parsing a client's request raises ``InvalidRequest`` naming the offending
field (``param="messages[3].content"``); parsing a provider's response raises
``ProviderError``, because a malformed answer is the upstream's fault, not the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, assert_never, get_args

from gateway.errors import InvalidRequest
from providers.document_parts import document_from_seed, document_to_seed
from providers.json_fields import (
    array,
    bad,
    mapping,
    optional_int,
    optional_number,
    optional_string,
    string,
)
from providers.openai_options import (
    logprobs_from_openai,
    optional_bool,
    response_format_from_openai,
    response_format_to_openai,
    string_map,
)
from providers.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    DocumentPart,
    FinishReason,
    ImagePart,
    Message,
    Role,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    Usage,
)
from providers.upstream_errors import malformed_reply

# "developer" is OpenAI's newer name for the system role; the neutral types know one.
_ROLES: Mapping[str, Role] = {"developer": "system", **{r: r for r in get_args(Role)}}
# "function_call" is the finish reason of the deprecated functions API.
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "function_call": "tool_calls",
    **{r: r for r in get_args(FinishReason)},
}
_TOOL_CHOICES = ("auto", "none", "required")
# Every chat-request field the gateway reads: the OpenAI ones a ``ChatRequest`` carries,
# those only the transport or the gateway uses, and the gateway's own extensions. Any
# other field is unknown (``ChatRequest.passthrough``).
KNOWN_PARAMETERS = frozenset(
    {
        *("model", "messages", "tools", "tool_choice", "max_tokens", "max_completion_tokens"),
        *("temperature", "top_p", "stop", "user", "response_format", "seed", "logprobs"),
        *("top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias"),
        *("parallel_tool_calls", "reasoning_effort", "metadata", "service_tier"),
        *("n", "stream", "stream_options"),
        *("provider", "tool_loop"),
    }
)
_IMAGE_SCHEMES = ("data:", "https://", "http://")
# OpenAI's file part carries a document as a base64 ``data:`` URL; an http(s) URL in its
# place is the gateway's extension (a document the vendor fetches, e.g. Anthropic's).
_FILE_DATA = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)", re.S)


def _function(obj: object, param: str) -> Mapping[str, Any]:
    """The ``function`` member of a tool or tool call, the only kind OpenAI defines."""
    d = mapping(obj, param)
    if d.get("type", "function") != "function":
        raise bad(f"{param}.type", "must be 'function'")
    return mapping(d.get("function"), f"{param}.function")


def chat_request_from_openai(body: Mapping[str, Any]) -> ChatRequest:
    """Parse a chat-completions request body; ``InvalidRequest`` names any malformed field.

    A missing ``model`` becomes ``""`` so the router can apply the configured default model.
    """
    body = mapping(body, "body")
    raw_messages = array(body.get("messages"), "messages")
    if not raw_messages:
        raise bad("messages", "must contain at least one message")
    tools = _tools_from_openai(body.get("tools"))
    # max_completion_tokens is OpenAI's current name, max_tokens the deprecated one.
    max_key = "max_tokens" if body.get("max_completion_tokens") is None else "max_completion_tokens"
    return ChatRequest(
        model=optional_string(body, "model", "") or "",
        messages=tuple(
            message_from_openai(m, f"messages[{i}]") for i, m in enumerate(raw_messages)
        ),
        tools=tools,
        tool_choice=_tool_choice_from_openai(body.get("tool_choice"), tools),
        max_tokens=optional_int(body, max_key, minimum=1),
        temperature=optional_number(body, "temperature"),
        top_p=optional_number(body, "top_p"),
        stop=_stop_from_openai(body.get("stop")),
        user=optional_string(body, "user", ""),
        response_format=response_format_from_openai(body.get("response_format")),
        seed=optional_int(body, "seed", minimum=-(2**63)),
        logprobs=body.get("logprobs") is True,
        top_logprobs=optional_int(body, "top_logprobs"),
        presence_penalty=optional_number(body, "presence_penalty", minimum=-2),
        frequency_penalty=optional_number(body, "frequency_penalty", minimum=-2),
        logit_bias=string_map(body.get("logit_bias"), "logit_bias", int),
        parallel_tool_calls=optional_bool(body, "parallel_tool_calls"),
        reasoning_effort=optional_string(body, "reasoning_effort", ""),
        metadata=string_map(body.get("metadata"), "metadata", str),
        service_tier=optional_string(body, "service_tier", ""),
        passthrough={k: v for k, v in body.items() if k not in KNOWN_PARAMETERS},
    )


def message_from_openai(value: object, param: str = "message") -> Message:
    """Parse one OpenAI message; ``param`` is its path, used in error messages."""
    d = mapping(value, param)
    raw_role = d.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        expected = "system, developer, user, assistant or tool"
        raise bad(f"{param}.role", f"unknown role {raw_role!r}; expected {expected}")
    tool_call_id = optional_string(d, "tool_call_id", param)
    if role == "tool" and tool_call_id is None:
        raise bad(f"{param}.tool_call_id", "tool messages need the id of the call they answer")
    return Message(
        role=role,
        content=_content_from_openai(d.get("content"), role, f"{param}.content"),
        tool_calls=_tool_calls_from_openai(d.get("tool_calls"), role, f"{param}.tool_calls"),
        tool_call_id=tool_call_id if role == "tool" else None,
        name=optional_string(d, "name", param),
    )


def _content_from_openai(value: object, role: Role, param: str) -> tuple[ContentPart, ...]:
    if value is None:
        if role == "assistant":  # an assistant turn that only calls tools has no content
            return ()
        raise bad(param, f"is required for {role} messages")
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    if not isinstance(value, list):
        raise bad(param, "must be a string or an array of content parts")
    return tuple(_part_from_openai(p, role, f"{param}[{i}]") for i, p in enumerate(value))


def _part_from_openai(value: object, role: Role, param: str) -> ContentPart:
    part = mapping(value, param)
    kind = part.get("type")
    match kind:
        case "text":
            return TextPart(string(part, "text", param))
        case "refusal" if role == "assistant":  # a replayed refusal is the assistant's text
            return TextPart(string(part, "refusal", param))
        case "image_url" if role == "user":
            image = mapping(part.get("image_url"), f"{param}.image_url")
            url = string(image, "url", f"{param}.image_url")
            if not url.startswith(_IMAGE_SCHEMES):
                raise bad(f"{param}.image_url.url", "must be an http(s) or data: URL")
            return ImagePart(url=url, detail=optional_string(image, "detail", f"{param}.image_url"))
        case "image_url":
            raise bad(f"{param}.type", f"images are only allowed in user messages, not {role}")
        case "file" if role == "user":
            return _document_from_openai(part, param)
        case "file":
            raise bad(f"{param}.type", f"files are only allowed in user messages, not {role}")
        case "document" if role == "user":
            return document_from_seed(part, param)
        case "document":
            raise bad(f"{param}.type", f"documents are only allowed in user messages, not {role}")
        case _:
            raise bad(f"{param}.type", f"unsupported content part type {kind!r}")


def _document_from_openai(part: Mapping[str, Any], param: str) -> DocumentPart:
    file = mapping(part.get("file"), f"{param}.file")
    filename = optional_string(file, "filename", f"{param}.file")
    if file.get("file_id") is not None:
        raise bad(f"{param}.file.file_id", "uploaded files are not supported; send file_data")
    data = string(file, "file_data", f"{param}.file")
    if data.startswith(("https://", "http://")):
        return DocumentPart(media_type="application/pdf", url=data, filename=filename)
    match = _FILE_DATA.fullmatch(data)
    if match is None:
        problem = "must be data:<media type>;base64,... or an http(s) URL"
        raise bad(f"{param}.file.file_data", problem)
    return DocumentPart(media_type=match["mime"], data=match["data"], filename=filename)


def _tool_calls_from_openai(value: object, role: Role, param: str) -> tuple[ToolCall, ...]:
    if value is None or value == []:
        return ()
    if role != "assistant":
        raise bad(param, "only assistant messages carry tool_calls")
    calls = []
    for i, raw in enumerate(array(value, param)):
        p = f"{param}[{i}]"
        function = _function(raw, p)
        call_id = string(raw, "id", p)
        name, arguments = (string(function, k, f"{p}.function") for k in ("name", "arguments"))
        calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
    return tuple(calls)


def _tools_from_openai(value: object) -> tuple[ToolDefinition, ...]:
    tools: list[ToolDefinition] = []
    names: set[str] = set()  # a set: checking each name against a list was quadratic
    for i, raw in enumerate(array(value, "tools") if value is not None else []):
        p = f"tools[{i}].function"
        function = _function(raw, f"tools[{i}]")
        name = string(function, "name", p)
        if name in names:
            raise bad(f"{p}.name", f"duplicate tool name {name!r}")
        names.add(name)
        params = function.get("parameters")
        params = {} if params is None else dict(mapping(params, f"{p}.parameters"))
        description = optional_string(function, "description", p) or ""
        tools.append(ToolDefinition(name=name, description=description, parameters=params))
    return tuple(tools)


def _tool_choice_from_openai(value: object, tools: Sequence[ToolDefinition]) -> ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str) and value in _TOOL_CHOICES:
        return value
    if isinstance(value, Mapping) and value.get("type") == "function":
        name = string(_function(value, "tool_choice"), "name", "tool_choice.function")
        if all(t.name != name for t in tools):
            raise bad("tool_choice.function.name", f"function {name!r} is not in tools")
        return name
    raise bad("tool_choice", "must be 'auto', 'none', 'required' or a function object")


def _stop_from_openai(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise bad("stop", "must be a string or an array of strings")


def chat_request_to_openai(
    req: ChatRequest,
    *,
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
) -> dict[str, Any]:
    """The request body (SDK keyword arguments) for ``chat.completions.create``; no None fields.

    OpenAI's reasoning models refuse ``max_tokens``; some compatible servers only know it.
    """
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [message_to_openai(m) for m in req.messages],
    }
    if req.tools:
        body["tools"] = [_tool_to_openai(t) for t in req.tools]
    if req.tool_choice in _TOOL_CHOICES:
        body["tool_choice"] = req.tool_choice
    elif req.tool_choice is not None:
        body["tool_choice"] = {"type": "function", "function": {"name": req.tool_choice}}
    optional: dict[str, Any] = {max_tokens_field: req.max_tokens, "temperature": req.temperature}
    optional |= {"top_p": req.top_p, "stop": list(req.stop) or None, "user": req.user}
    optional |= {
        "response_format": response_format_to_openai(req.response_format),
        "seed": req.seed,
        "logprobs": req.logprobs or None,
        "top_logprobs": req.top_logprobs,
        "presence_penalty": req.presence_penalty,
        "frequency_penalty": req.frequency_penalty,
        "logit_bias": req.logit_bias,
        "parallel_tool_calls": req.parallel_tool_calls,
        "reasoning_effort": req.reasoning_effort,
        "metadata": req.metadata,
        "service_tier": req.service_tier,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if req.passthrough:  # the SDK merges it into the JSON body as it came
        body["extra_body"] = dict(req.passthrough)
    return body


def message_to_openai(m: Message) -> dict[str, Any]:
    """One neutral message as an OpenAI message dict."""
    out: dict[str, Any] = {"role": m.role}
    match m.content:
        case ():
            out["content"] = None if m.role == "assistant" else ""
        case (TextPart(text=text),):
            out["content"] = text
        case parts:
            out["content"] = [_part_to_openai(p) for p in parts]
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    if m.name is not None and m.role != "tool":  # OpenAI's tool messages have no name field
        out["name"] = m.name
    return out


def _part_to_openai(part: ContentPart) -> dict[str, Any]:
    match part:
        case TextPart(text=text):
            return {"type": "text", "text": text}
        case ImagePart(url=url, detail=detail):
            image = {"url": url} if detail is None else {"url": url, "detail": detail}
            return {"type": "image_url", "image_url": image}
        case DocumentPart(by_gateway=True):
            return document_to_seed(part)
        case DocumentPart(filename=filename):
            file = {"file_data": part.data_url}
            if filename is not None:
                file["filename"] = filename
            return {"type": "file", "file": file}
        case _:
            assert_never(part)


def _tool_to_openai(tool: ToolDefinition) -> dict[str, Any]:
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": {k: v for k, v in function.items() if v}}


def chat_response_from_openai(body: Mapping[str, Any]) -> ChatResponse:
    """Parse a ``chat.completion`` object (e.g. the SDK's ``model_dump()``); first choice only."""
    try:
        choices = array(mapping(body, "body").get("choices"), "choices")
        choice = mapping(choices[0] if choices else None, "choices[0]")
        raw = dict(mapping(choice.get("message"), "choices[0].message"))
        raw.setdefault("role", "assistant")
        if raw.get("content") is None and isinstance(raw.get("refusal"), str):
            raw["content"] = raw["refusal"]  # a refusal is the only text the caller will get
        message = message_from_openai(raw, "choices[0].message")
        usage = mapping(body.get("usage") or {}, "usage")
        tokens = [
            optional_int(usage, k, "usage") or 0 for k in ("prompt_tokens", "completion_tokens")
        ]
    except InvalidRequest as exc:
        raise malformed_reply(f"chat completion: {exc.message}") from None
    model, response_id = body.get("model"), body.get("id")
    return ChatResponse(
        message=message,
        finish_reason=finish_reason_from_openai(
            choice.get("finish_reason"), bool(message.tool_calls)
        ),
        usage=Usage(prompt_tokens=tokens[0], completion_tokens=tokens[1]),
        model=model if isinstance(model, str) else "",
        provider_response_id=response_id if isinstance(response_id, str) else None,
        logprobs=logprobs_from_openai(choice.get("logprobs")),
    )


def finish_reason_from_openai(reason: object, has_tool_calls: bool) -> FinishReason:
    """The neutral finish reason of an OpenAI ``finish_reason`` (a completion's or a stream
    chunk's); without a known one, ``tool_calls`` when the answer holds calls, else ``stop``."""
    finish = _FINISH_REASONS.get(reason) if isinstance(reason, str) else None
    return finish or ("tool_calls" if has_tool_calls else "stop")


def chat_response_to_openai(
    resp: ChatResponse, *, response_id: str, created: int, model: str | None = None
) -> dict[str, Any]:
    """A full ``chat.completion`` object, as the gateway answers its clients."""
    msg, usage = resp.message, resp.usage
    message: dict[str, Any] = {"role": "assistant", "content": msg.text or None}
    if msg.tool_calls:
        message["tool_calls"] = message_to_openai(msg)["tool_calls"]
    elif not msg.text:
        message["content"] = ""  # content is null only beside tool calls
    counts = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model or resp.model,
        "choices": [{"index": 0, "message": message, "finish_reason": resp.finish_reason}],
        "usage": counts | {"total_tokens": usage.total_tokens},
    }
