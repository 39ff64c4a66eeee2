"""Bedrock Converse wire format: the neutral types to and from ``client.converse(...)``.

Pure (no boto3 import): the API process runs :func:`check_converse_request` on every
request routed to a Bedrock instance. Where Converse differs from the OpenAI shape:

* content is a list of one-key blocks (``{"text"}``, ``{"image"}``, ``{"toolUse"}``,
  ``{"toolResult"}``); the system prompt is a top-level ``system`` list;
* roles must alternate, so consecutive same-role messages are merged and tool results
  travel as ``toolResult`` blocks in a *user* message;
* images are raw bytes (boto3 base64-encodes them itself): only ``data:`` URLs can be sent;
* a conversation holding ``toolUse``/``toolResult`` blocks needs a ``toolConfig``, and
  there is no ``"none"`` tool choice;
* OpenAI's other parameters: ``response_format`` json_schema is ``outputConfig.textFormat``
  (the schema as JSON text) and json_object a forced tool (``providers.output_tool``);
  ``reasoning_effort`` is ``outputConfig.effort``; ``service_tier`` is ``serviceTier``;
  ``metadata`` is ``requestMetadata``.
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

_STOP_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
# The model failed to produce a usable answer: no finish reason describes that.
_MALFORMED = frozenset({"malformed_model_output", "malformed_tool_use"})
_TOOL_CHOICES: Mapping[str, dict[str, Any]] = {"auto": {"auto": {}}, "required": {"any": {}}}
_SERVICE_TIERS = frozenset({"default", "flex", "priority"})
# botocore's service model: RequestMetadataKeyString and RequestMetadataValueString.
_METADATA_KEY = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}")
_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}")
_DATA_URL_FORM = "data:image/(jpeg|png|gif|webp);base64,..."
_DATA_URL = re.compile(r"data:image/(?P<kind>jpeg|jpg|png|gif|webp);base64,(?P<data>.+)", re.S)
# Declared for tools the history names when the request offers none (see _tool_config).
_UNOFFERED_TOOL = "Not available in this turn: do not call it."
_EMPTY_RESULT = "(no output)"


def to_converse_request(req: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``client.converse`` (``modelId`` included).

    ``InvalidRequest`` for what Converse cannot carry."""
    messages = _messages_to_converse(req.messages)
    body: dict[str, Any] = {"modelId": req.model, "messages": messages}
    if req.system_prompt:
        body["system"] = [{"text": req.system_prompt}]
    inference = _inference_config(req)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(req, messages)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    output_config = _output_config(req)
    if output_config:
        body["outputConfig"] = output_config
    tier = _service_tier(req.service_tier)
    if tier is not None:
        body["serviceTier"] = {"type": tier}
    if req.metadata:
        body["requestMetadata"] = _request_metadata(req.metadata)
    return body


def check_converse_request(req: ChatRequest) -> None:
    """Refuse what Converse cannot carry (remote image URLs, bad tool-call JSON, ...):
    the mapping is pure, so running it is the check."""
    to_converse_request(req)


def _inference_config(req: ChatRequest) -> dict[str, Any]:
    # Converse takes temperature in [0, 1]; OpenAI's range goes to 2.
    if req.temperature is not None and not 0 <= req.temperature <= 1:
        raise InvalidRequest("temperature: Bedrock accepts 0 to 1", param="temperature")
    fields = {"maxTokens": req.max_tokens, "temperature": req.temperature, "topP": req.top_p}
    inference: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if req.stop:
        inference["stopSequences"] = list(req.stop)
    return inference


def _tool_config(req: ChatRequest, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """``toolConfig``, or None. Converse rejects a conversation with tool blocks but no
    ``toolConfig``, and cannot say "none": when no tools are offered, the tools the history
    names are declared as unavailable stubs instead. JSON mode forces the output tool
    (``providers.output_tool``)."""
    forced = output_tool(req, "Bedrock Converse")
    offered = req.tools if req.tool_choice != "none" else ()
    if offered:
        config: dict[str, Any] = {"tools": [_tool_spec(t) for t in offered]}
        if req.tool_choice is not None:
            config["toolChoice"] = _TOOL_CHOICES.get(
                req.tool_choice, {"tool": {"name": req.tool_choice}}
            )
        return config
    used = _tools_named_in(req.messages)
    stubs = [ToolDefinition(name=name, description=_UNOFFERED_TOOL) for name in used]
    if forced is not None:
        return {
            "tools": [_tool_spec(t) for t in (forced, *stubs)],
            "toolChoice": {"tool": {"name": forced.name}},
        }
    if not used and not _has_tool_blocks(messages):
        return None
    return {"tools": [_tool_spec(t) for t in stubs or req.tools]}


def _output_config(req: ChatRequest) -> dict[str, Any]:
    """``outputConfig``: structured output (the JSON schema travels as text) and the
    effort (``reasoning_effort``, see ``providers.reasoning_effort``)."""
    config: dict[str, Any] = {}
    fmt = req.response_format
    if fmt is not None and fmt.type == "json_schema":
        if fmt.schema is None:
            param = "response_format.json_schema.schema"
            raise InvalidRequest(f"{param}: Bedrock needs the schema", param=param)
        definition = {"schema": json.dumps(fmt.schema, ensure_ascii=False), "name": fmt.name}
        if fmt.description:
            definition["description"] = fmt.description
        structure = {"jsonSchema": definition}
        config["textFormat"] = {"type": "json_schema", "structure": structure}
    if req.reasoning_effort is not None:
        config["effort"] = claude_effort(req.reasoning_effort, "Bedrock Converse")
    return config


def _service_tier(tier: str | None) -> str | None:
    """``serviceTier.type``; OpenAI's ``auto`` (the account's own choice) sends none."""
    if tier is None or tier == "auto":
        return None
    if tier not in _SERVICE_TIERS:
        raise CapabilityMissing(
            f"Bedrock takes service_tier auto, default, flex or priority, not {tier!r}",
            param="service_tier",
        )
    return tier


def _request_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """``requestMetadata`` (it tags the invocation log): Bedrock allows fewer characters
    than OpenAI and values of 256 at most, so a pair outside that is refused."""
    for key, value in metadata.items():
        if not _METADATA_KEY.fullmatch(key) or not _METADATA_VALUE.fullmatch(value):
            raise CapabilityMissing(
                f"metadata[{key[:64]!r}]: Bedrock's requestMetadata takes keys and values of "
                "letters, digits, spaces and :_@$#=/+,-. (values up to 256 characters)",
                param="metadata",
            )
    return dict(metadata)


def _tools_named_in(messages: Sequence[Message]) -> list[str]:
    names = (c.name for m in messages for c in m.tool_calls)
    return list(dict.fromkeys(names))


def _has_tool_blocks(messages: Sequence[Mapping[str, Any]]) -> bool:
    return any("toolResult" in b or "toolUse" in b for m in messages for b in m["content"])


def _tool_spec(tool: ToolDefinition) -> dict[str, Any]:
    schema = dict(tool.parameters) or {"type": "object", "properties": {}}
    spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": schema}}
    if tool.description:  # Converse rejects an empty description
        spec["description"] = tool.description
    return {"toolSpec": spec}


def _messages_to_converse(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation with same-role neighbours merged (tool results are user content);
    indexes in error params are those of ``messages`` (system included)."""
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        param = f"messages[{i}]"
        match m.role:
            case "system":  # lifted into the top-level "system" field
                continue
            case "tool":
                role, blocks = "user", [_tool_result_block(m, param)]
            case "user":
                role, blocks = "user", _content_blocks(m.content, param)
            case "assistant":
                blocks = _content_blocks(m.content, param)
                blocks += [
                    _tool_use_block(c, f"{param}.tool_calls[{j}]")
                    for j, c in enumerate(m.tool_calls)
                ]
                role = "assistant"
            case _:
                assert_never(m.role)
        if not blocks:
            raise InvalidRequest(f"{param}: has no content to send", param=param)
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _content_blocks(parts: Sequence[ContentPart], param: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        match part:
            case TextPart(text=""):  # Converse rejects blank text blocks
                pass
            case TextPart(text=text):
                blocks.append({"text": text})
            case ImagePart(url=url):
                blocks.append(_image_block(url, f"{param}.content[{j}].image_url.url"))
            case DocumentPart():
                blocks.append(_document_block(part, j, f"{param}.content[{j}].file"))
            case _:
                assert_never(part)
    return blocks


# The document formats Converse reads, by media type.
_DOCUMENT_FORMATS: Mapping[str, str] = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
# Converse's document names: letters, digits, single spaces, hyphens, parentheses, brackets.
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9\s\-()\[\]]+")


def _document_block(part: DocumentPart, index: int, param: str) -> dict[str, Any]:
    where = f"{param}.file_data"
    document_format = _DOCUMENT_FORMATS.get(part.media_type)
    if part.data is None:
        raise InvalidRequest(f"{where}: Bedrock takes documents inline, not by URL", param=where)
    if document_format is None:
        known = ", ".join(sorted(_DOCUMENT_FORMATS))
        problem = f"Bedrock does not read {part.media_type} documents; it reads {known}"
        raise InvalidRequest(f"{where}: {problem}", param=where)
    try:
        data = base64.b64decode(part.data, validate=True)
    except binascii.Error:
        raise InvalidRequest(f"{where}: the document is not valid base64", param=where) from None
    stem = (part.filename or "").rsplit(".", 1)[0]
    name = " ".join(_NOT_IN_NAME.sub("-", stem).split())[:200] or f"document {index + 1}"
    return {"document": {"format": document_format, "name": name, "source": {"bytes": data}}}


def _image_block(url: str, param: str) -> dict[str, Any]:
    match = _DATA_URL.fullmatch(url)
    if match is None:
        # Converse takes image bytes or an S3 location, never an http(s) URL.
        raise InvalidRequest(f"{param}: Bedrock accepts only {_DATA_URL_FORM}", param=param)
    try:
        data = base64.b64decode(match["data"], validate=True)
    except binascii.Error:
        raise InvalidRequest(f"{param}: the image data is not valid base64", param=param) from None
    kind = "jpeg" if match["kind"] == "jpg" else match["kind"]
    return {"image": {"format": kind, "source": {"bytes": data}}}


def _tool_use_block(call: ToolCall, param: str) -> dict[str, Any]:
    param = f"{param}.function.arguments"
    arguments = tool_arguments(call.arguments, param)
    return {"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}}


def _tool_result_block(m: Message, param: str) -> dict[str, Any]:
    if m.tool_call_id is None:
        raise InvalidRequest(f"{param}.tool_call_id: is required", param=f"{param}.tool_call_id")
    # Converse rejects both an empty content list and a blank text block.
    content = _content_blocks(m.content, param) or [{"text": _EMPTY_RESULT}]
    return {"toolResult": {"toolUseId": m.tool_call_id, "content": content}}


def from_converse_response(body: Mapping[str, Any], *, model: str = "") -> ChatResponse:
    """Parse a ``converse`` response (boto3's dict, ``ResponseMetadata`` included).

    ``model`` is the one requested: Converse does not echo it."""
    output = body.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    blocks = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(blocks, list):
        raise malformed_reply("Converse response: output.message.content is missing")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        match block:
            case {"text": str(text)}:
                texts.append(text)
            case {"toolUse": {"toolUseId": str(call_id), "name": str(name), "input": args}}:
                arguments = json.dumps(args, separators=(",", ":"), ensure_ascii=False)
                calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
            case {"reasoningContent": _}:  # reasoning is not part of the public format
                pass
            case _:
                kind = next(iter(block), None) if isinstance(block, Mapping) else None
                raise ProviderError(f"unsupported content block {kind!r} in Converse response")
    finish = finish_reason_from_converse(body.get("stopReason"), bool(calls))
    text = "".join(texts)
    return ChatResponse(
        message=Message(
            role="assistant", content=(TextPart(text),) if text else (), tool_calls=tuple(calls)
        ),
        finish_reason=finish,
        usage=converse_usage(body.get("usage")),
        model=model,
        provider_response_id=request_id(body.get("ResponseMetadata")),
    )


def finish_reason_from_converse(stop_reason: object, has_tool_calls: bool) -> FinishReason:
    """The neutral finish reason of a ``stopReason`` (a response's, or a stream's
    ``messageStop``); ``ProviderError`` when the model failed to produce a usable answer;
    without a known reason, ``tool_calls`` when there are calls, else ``stop``."""
    if stop_reason in _MALFORMED:
        raise ProviderError(f"the model produced unusable output ({stop_reason})")
    finish = _STOP_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None
    return finish or ("tool_calls" if has_tool_calls else "stop")


def converse_usage(usage: object) -> Usage:
    """A response's (or a stream's ``metadata``) ``usage`` as neutral usage."""
    # inputTokens excludes prompt-cache reads and writes; OpenAI's prompt_tokens counts them.
    cache = ("cacheReadInputTokens", "cacheWriteInputTokens")
    return Usage.counted(usage, ("inputTokens", *cache), ("outputTokens",))


def request_id(metadata: object) -> str | None:
    """AWS's id for the exchange, from boto3's ``ResponseMetadata``."""
    request_id = metadata.get("RequestId") if isinstance(metadata, Mapping) else None
    return request_id if isinstance(request_id, str) and request_id else None
