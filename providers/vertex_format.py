"""Vertex AI Gemini ``generateContent``: the wire request and response, as pure functions.

Reference: https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent

Where it differs from OpenAI: the assistant role is ``model``; the system prompt is a
separate ``systemInstruction``; tool calls and results are parts (``functionCall``,
``functionResponse``); a result names its *function*, not a call id, and travels in a user
turn; arguments are an object; parameter schemas are an OpenAPI subset (``vertex_schema``).
OpenAI's other parameters: ``response_format`` is ``responseMimeType`` (and
``responseSchema``), ``seed`` and the penalties are ``generationConfig`` fields,
``reasoning_effort`` is ``thinkingConfig`` (``providers.reasoning_effort``), ``metadata``
is ``labels``.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, assert_never

from gateway.errors import CapabilityMissing, InvalidRequest, ProviderError
from providers.json_fields import tool_arguments
from providers.reasoning_effort import gemini_thinking
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
    ToolChoice,
    ToolDefinition,
    Usage,
)
from providers.upstream_errors import malformed_reply
from providers.vertex_schema import gemini_parameters, gemini_schema

_TOOL_MODES: Mapping[str, str] = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "MODEL_ARMOR")
# The model produced a call it could not form (or one it was not offered): no usable answer,
# as Bedrock's malformed_tool_use.
_UNUSABLE = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"})
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **{reason: "content_filter" for reason in _FILTERED},
    **{f"IMAGE_{reason}": "content_filter" for reason in _FILTERED},
}
# https://cloud.google.com/resource-manager/docs/labels-overview#requirements
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)", re.S)
# Gemini 3 requires a function call's ``thoughtSignature`` back with the call; the neutral
# ToolCall has no place for it, so it rides in the call id (url-safe: ids reach other APIs).
SIGNATURE_MARK = "__sig_"


def gemini_request(req: ChatRequest) -> dict[str, Any]:
    """The ``generateContent`` request body. ``InvalidRequest`` for what cannot map."""
    body: dict[str, Any] = {"contents": _contents(req.messages)}
    system = [{"text": m.text} for m in req.messages if m.role == "system" and m.text]
    if system:
        body["systemInstruction"] = {"parts": system}
    if req.tools:
        declarations = [_declaration(t, f"tools[{i}]") for i, t in enumerate(req.tools)]
        body["tools"] = [{"functionDeclarations": declarations}]
        if req.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(req.tool_choice)}
    generation = {
        "maxOutputTokens": req.max_tokens,
        "temperature": req.temperature,
        "topP": req.top_p,
        "stopSequences": list(req.stop) or None,
        "seed": req.seed,
        "presencePenalty": req.presence_penalty,
        "frequencyPenalty": req.frequency_penalty,
        **_response_format(req),
    }
    if req.reasoning_effort is not None:
        generation["thinkingConfig"] = gemini_thinking(req.reasoning_effort, req.model)
    generation = {k: v for k, v in generation.items() if v is not None}
    if generation:
        body["generationConfig"] = generation
    if req.metadata:
        body["labels"] = _labels(req.metadata)
    return body


def _response_format(req: ChatRequest) -> dict[str, Any]:
    """JSON mode is ``responseMimeType: application/json``; a JSON schema adds
    ``responseSchema``, in the OpenAPI subset Gemini takes (``vertex_schema``)."""
    fmt = req.response_format
    if fmt is None:
        return {}
    out: dict[str, Any] = {"responseMimeType": "application/json"}
    if fmt.type == "json_schema":
        param = "response_format.json_schema.schema"
        if fmt.schema is None:
            raise InvalidRequest(f"{param}: Gemini needs the schema", param=param)
        out["responseSchema"] = gemini_schema(fmt.schema, param)
    return out


def _labels(metadata: Mapping[str, str]) -> dict[str, str]:
    """``labels`` (they tag the call in billing): Google allows lowercase letters, digits,
    ``_`` and ``-``, keys starting with a letter, 63 characters each; other pairs are
    refused rather than rewritten."""
    for key, value in metadata.items():
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
            raise CapabilityMissing(
                f"metadata[{key[:64]!r}]: Vertex labels take lowercase letters, digits, _ and - "
                "(keys starting with a letter), 63 characters at most",
                param="metadata",
            )
    return dict(metadata)


def check_gemini_request(req: ChatRequest) -> None:
    """Refuse what ``generateContent`` cannot carry: running the pure mapping is the check."""
    gemini_request(req)


def _calling_config(choice: ToolChoice) -> dict[str, Any]:
    mode = _TOOL_MODES.get(choice)
    if mode is not None:
        return {"mode": mode}
    # A forced function: "ANY" restricted to that one name.
    return {"mode": "ANY", "allowedFunctionNames": [choice]}


def _declaration(tool: ToolDefinition, param: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    parameters = gemini_parameters(tool.parameters, f"{param}.function.parameters")
    if parameters is not None:
        out["parameters"] = parameters
    return out


def _contents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The turns; indexes in error params are those of ``messages`` (system included)."""
    out: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool call id -> function name, for tool results
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        match m.role:
            case "system":  # lifted into systemInstruction
                continue
            case "user":
                role, parts = "user", _parts(m.content, param)
            case "assistant":
                role, parts = "model", _parts(m.content, param)
                for j, call in enumerate(m.tool_calls):
                    call_names[call.id] = call.name
                    parts.append(_function_call(call, f"{param}.tool_calls[{j}]"))
            case "tool":
                role, parts = "user", _function_response(m, call_names, param)
            case _:
                assert_never(m.role)
        if not parts:  # Gemini rejects a turn without parts
            continue
        # Consecutive tool results (and any user text after them) share one user turn.
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    if not out:
        raise InvalidRequest("messages: need at least one non-system message", param="messages")
    return out


def _parts(content: Sequence[ContentPart], param: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        match part:
            case TextPart(text=""):
                pass
            case TextPart(text=text):
                parts.append({"text": text})
            case ImagePart(url=url):
                parts.append(_image_part(url, f"{param}.content[{j}].image_url.url"))
            case DocumentPart(media_type=mime, data=str(data)):
                parts.append({"inlineData": {"mimeType": mime, "data": data}})
            case DocumentPart(media_type=mime, url=str(url)) if url.startswith("https://"):
                parts.append({"fileData": {"mimeType": mime, "fileUri": url}})
            case DocumentPart():
                where = f"{param}.content[{j}].file.file_data"
                raise InvalidRequest(f"{where}: use an https:// URL or inline data", param=where)
            case _:
                assert_never(part)
    return parts


def _image_part(url: str, param: str) -> dict[str, Any]:
    match = _DATA_URL.fullmatch(url)
    if match is not None:
        return {"inlineData": {"mimeType": match["mime"], "data": match["data"]}}
    if url.startswith(("https://", "gs://")):
        guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
        # fileData requires a MIME type; an image URL without a known extension is a guess.
        mime = guessed if guessed and guessed.startswith("image/") else "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    problem = "use an https:// or gs:// URL or data:<mime>;base64,..."
    raise InvalidRequest(f"{param}: {problem}", param=param)


def _function_call(call: ToolCall, param: str) -> dict[str, Any]:
    where = f"{param}.function.arguments"
    args = tool_arguments(call.arguments, where)
    part: dict[str, Any] = {"functionCall": {"name": call.name, "args": args}}
    signature = _signature_from_id(call.id)
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def _function_response(
    m: Message, call_names: Mapping[str, str], param: str
) -> list[dict[str, Any]]:
    name = call_names.get(m.tool_call_id or "") or m.name
    if name is None:
        where = f"{param}.tool_call_id"
        problem = f"no earlier assistant tool call has id {m.tool_call_id!r}"
        raise InvalidRequest(f"{where}: {problem}", param=where)
    text = m.text
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    # A JSON object result is the response itself; anything else goes under "output",
    # the key the FunctionResponse reference names for a function's output.
    response = parsed if isinstance(parsed, dict) else {"output": text}
    parts = [{"functionResponse": {"name": name, "response": response}}]
    images = tuple(p for p in m.content if isinstance(p, ImagePart))
    return parts + _parts(images, param)


def _signature_from_id(call_id: str) -> str | None:
    _, mark, encoded = call_id.partition(SIGNATURE_MARK)
    if not mark:
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(raw).decode()


def _call_id(upstream_id: object, signature: object) -> str:
    call_id = upstream_id if isinstance(upstream_id, str) and upstream_id else ""
    if not call_id or SIGNATURE_MARK in call_id:
        call_id = "call_" + secrets.token_hex(12)
    if isinstance(signature, str) and signature:
        try:
            raw = base64.b64decode(signature)
        except (binascii.Error, ValueError):
            return call_id
        call_id += SIGNATURE_MARK + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return call_id


def chat_response_from_gemini(body: Mapping[str, Any], model: str = "") -> ChatResponse:
    """Parse a ``GenerateContentResponse``; the first candidate only. ``model`` is the
    requested one, used when the response names no ``modelVersion``."""
    usage = gemini_usage(body.get("usageMetadata"))
    version, response_id = body.get("modelVersion"), body.get("responseId")
    candidates = body.get("candidates")
    texts: list[str] = []
    calls: list[ToolCall] = []
    finish: FinishReason = "content_filter"  # no candidate: the prompt itself was blocked
    if not candidates and not isinstance(body.get("promptFeedback"), Mapping):
        # A blocked prompt says why in promptFeedback; an answer with neither is broken.
        raise malformed_reply("Gemini response: no candidates and no promptFeedback")
    if candidates:
        if not isinstance(candidates, list) or not isinstance(candidates[0], Mapping):
            raise malformed_reply("Gemini response: candidates is not a list of objects")
        candidate = candidates[0]
        content = candidate.get("content") or {}
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else []:
            read_part(part, texts, calls)
        finish = finish_reason_from_gemini(candidate.get("finishReason"), bool(calls))
    text = "".join(texts)
    return ChatResponse(
        message=Message(
            role="assistant", content=(TextPart(text),) if text else (), tool_calls=tuple(calls)
        ),
        finish_reason=finish,
        usage=usage,
        model=version if isinstance(version, str) and version else model,
        provider_response_id=response_id if isinstance(response_id, str) else None,
    )


def finish_reason_from_gemini(reason: object, has_tool_calls: bool) -> FinishReason:
    """The neutral finish reason of a candidate's ``finishReason`` (a response's, or a
    stream's last chunk's): calls decide (Gemini says ``STOP`` after them); ``ProviderError``
    for a call the model could not form."""
    if reason in _UNUSABLE:
        raise ProviderError(f"the model produced unusable output ({reason})")
    if has_tool_calls:
        return "tool_calls"
    mapped = _FINISH_REASONS.get(reason) if isinstance(reason, str) else None
    return mapped or "stop"


def read_part(part: object, texts: list[str], calls: list[ToolCall]) -> None:
    """Append one response part's text to ``texts`` or its function call to ``calls``;
    thought summaries are left out, other parts are a ``ProviderError``."""
    match part:
        case {"thought": True}:  # thought summaries are not part of the public format
            pass
        case {"functionCall": {"name": str(name), **call}, **rest}:
            args = call.get("args") or {}
            arguments = json.dumps(args if isinstance(args, dict) else {})
            call_id = _call_id(call.get("id"), rest.get("thoughtSignature"))
            calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
        case {"text": str(text)}:
            texts.append(text)
        case _:
            kinds = sorted(part) if isinstance(part, Mapping) else [type(part).__name__]
            raise ProviderError(f"unsupported part {kinds} in Gemini response")


def gemini_usage(metadata: object) -> Usage:
    """A response's ``usageMetadata`` as neutral usage."""
    # Thinking tokens are billed as output, as OpenAI counts reasoning in completion_tokens.
    return Usage.counted(
        metadata,
        ("promptTokenCount", "toolUsePromptTokenCount"),
        ("candidatesTokenCount", "thoughtsTokenCount"),
    )
