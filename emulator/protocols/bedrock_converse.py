"""AWS Bedrock Converse: ``POST /model/{modelId}/converse``.

Point boto3 at it with ``session.client("bedrock-runtime", endpoint_url="http://host:port")``.
Requests must carry a well-formed SigV4 ``Authorization`` header (the signature itself is
not verified: the emulator does not know the secret) and ``x-amz-date``; anything else is a
403. Errors use AWS's restJson shape: the exception name in ``x-amzn-ErrorType`` and
``{"message": ...}`` as the body. Like the real API, the roles must alternate and a
conversation holding tool blocks needs a ``toolConfig``.

ConverseStream (``POST /model/{modelId}/converse-stream``, the same request) answers in the
binary AWS event stream (:mod:`emulator.protocols.aws_eventstream`): ``messageStart``;
``contentBlockDelta`` text pieces (a text block has no start event); per tool call a
``contentBlockStart`` with its id and name, ``contentBlockDelta`` pieces of its input JSON
and a ``contentBlockStop``; ``messageStop`` with the stop reason; and last ``metadata`` with
the usage. Payloads carry AWS's ``p`` padding. A failure after the 200 is a
``modelStreamErrorException`` message. The request's options (``toolChoice``,
``outputConfig``, ``serviceTier``, ``requestMetadata``) are checked as Bedrock checks them
(:mod:`emulator.protocols.bedrock_options`); structured output and a forced tool shape the
reply.

CountTokens (``POST /model/{modelId}/count-tokens``) takes ``{"input": {"converse": {...}}}``,
the Converse request's ``messages``, ``system``, ``toolConfig`` and
``additionalModelRequestFields`` checked as Converse checks them, and answers
``{"inputTokens"}``: what the Converse call's ``usage.inputTokens`` would be.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from emulator.behaviour import Decision, Turn
from emulator.directives import FinishReason
from emulator.protocols import aws_eventstream
from emulator.protocols.base import (
    Protocol,
    RequestError,
    Step,
    new_id,
    since_last_question,
    split_arguments,
    split_for_stream,
)
from emulator.protocols.bedrock_options import read_options

_STOP_REASONS: Mapping[FinishReason, str] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
}
_ERROR_TYPES: Mapping[int, str] = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
# AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request,
#   SignedHeaders=host;x-amz-date, Signature=<64 hex>
_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>\w{16,128})/(?P<date>\d{8})/"
    r"(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request,\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=[0-9a-f]{64}"
)
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
# botocore's ConverseTokensRequest: what CountTokens takes of a Converse request.
_COUNT_MEMBERS = frozenset({"messages", "system", "toolConfig", "additionalModelRequestFields"})


def _sigv4(headers: Mapping[str, str]) -> re.Match[str] | None:
    """The parsed SigV4 header, if well-formed, for the bedrock service and signed on the
    request's own date, host and ``x-amz-date``."""
    match = _SIGV4.fullmatch(headers.get("authorization", "").strip())
    date = headers.get("x-amz-date", "")
    if match is None or not _AMZ_DATE.fullmatch(date) or match["date"] != date[:8]:
        return None
    signed = match["signed"].split(";")
    if match["service"] != "bedrock" or "host" not in signed or "x-amz-date" not in signed:
        return None
    return match


class BedrockConverse(Protocol):
    """The Bedrock Runtime Converse operation."""

    name: ClassVar[str] = "bedrock"
    # ":path": an ARN model id holds "/", which boto3 sends percent-encoded.
    path: ClassVar[str] = "/model/{model_id:path}/converse"
    stream_path: ClassVar[str | None] = "/model/{model_id:path}/converse-stream"
    stream_media_type: ClassVar[str] = aws_eventstream.MEDIA_TYPE
    count_path: ClassVar[str | None] = "/model/{model_id:path}/count-tokens"
    answer_field: ClassVar[str] = "output"
    missing_key_message: ClassVar[str] = (
        "Missing or malformed AWS Signature Version 4 authorization (emulated)."
    )
    auth_failure_status: ClassVar[int] = 403

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """A structurally valid SigV4 header for service ``bedrock``, plus ``x-amz-date``."""
        return _sigv4(headers) is not None

    def recorded_auth(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """The credential scope: access key id, region, service (never the signature)."""
        match = _sigv4(headers)
        if match is None:
            return None
        return {
            "scheme": "AWS4-HMAC-SHA256",
            "access_key_id": match["key"],
            "region": match["region"],
            "service": match["service"],
        }

    def response_headers(self, status: int) -> dict[str, str]:
        """``x-amzn-RequestId`` always, and ``x-amzn-ErrorType`` on errors."""
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if status >= 400:
            headers["x-amzn-ErrorType"] = _ERROR_TYPES.get(
                status, "InternalServerException" if status >= 500 else "ValidationException"
            )
        return headers

    def count_turn(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """A ``CountTokens`` request: its ``input.converse`` parsed as a Converse request
        (only the members ``ConverseTokensRequest`` has); ``invokeModel`` input is not
        emulated."""
        count_input = body.get("input") if isinstance(body, dict) else None
        if not isinstance(count_input, dict) or len(count_input) != 1:
            raise RequestError("input: exactly one of converse or invokeModel is required")
        converse = count_input.get("converse")
        if not isinstance(converse, dict):
            raise RequestError("input: the emulator counts converse input only")
        unknown = sorted(set(converse) - _COUNT_MEMBERS)
        if unknown:
            raise RequestError(f"input.converse: unknown members: {', '.join(unknown)}")
        return self.parse(converse, path_params)

    def render_count(self, tokens: int) -> dict[str, Any]:
        """A ``CountTokensResponse``."""
        return {"inputTokens": tokens}

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate a Converse request and reduce it to a :class:`Turn`."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages: must be a non-empty list")
        system = body.get("system", [])
        if not isinstance(system, list):
            raise RequestError("system: must be a list of content blocks")
        texts = [
            b["text"] for b in system if isinstance(b, dict) and isinstance(b.get("text"), str)
        ]
        last_user_text = ""
        has_tool_blocks = False
        previous_role = None
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if role not in ("user", "assistant") or not isinstance(content, list) or not content:
                raise RequestError(
                    f"messages.{index}: needs role 'user' or 'assistant' and non-empty content"
                )
            if role == previous_role or (index == 0 and role != "user"):
                raise RequestError(
                    "A conversation must start with a user message and alternate between "
                    "user and assistant roles."
                )
            previous_role = role
            text = _text_blocks(content, index)
            results = _tool_results(content)
            has_tool_blocks = has_tool_blocks or bool(results) or _has_tool_use(content)
            texts += [part for part in (text, *results) if part]
            if role == "user" and text:
                last_user_text = text
        if has_tool_blocks and not _has_tools(body.get("toolConfig")):
            raise RequestError(
                "The toolConfig field must be defined when using toolUse and toolResult "
                "content blocks."
            )
        index, tool_results = since_last_question(messages, _step)
        options = read_options(body)
        return Turn(
            model=path_params.get("model_id", ""),
            texts=tuple(texts),
            last_user_text=last_user_text,
            tool_results=tool_results,
            index=index,
            body=body,
            output=options.output,
            forced_tool=options.forced_tool,
        )

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """A ``ConverseResponse``."""
        content: list[dict[str, Any]] = []
        if decision.text:  # Converse never sends a blank text block
            content.append({"text": decision.text})
        content += [
            {
                "toolUse": {
                    "toolUseId": new_id("tooluse_", 22),
                    "name": call.name,
                    "input": call.arguments,
                }
            }
            for call in decision.tool_calls
        ]
        usage = {
            "inputTokens": decision.prompt_tokens,
            "outputTokens": decision.completion_tokens,
            "totalTokens": decision.prompt_tokens + decision.completion_tokens,
        }
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": _STOP_REASONS[decision.finish_reason],
            "usage": usage,
            "metrics": {"latencyMs": decision.latency_ms or 0},
        }

    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """ConverseStream's event messages (see the module's docstring)."""

        def event(kind: str, **payload: Any) -> bytes:
            # AWS pads payloads so their length does not reveal the content.
            return aws_eventstream.event(kind, {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCD"})

        events = [event("messageStart", role="assistant")]
        index = 0
        if decision.text:  # Converse never sends a blank text block
            events += [
                event("contentBlockDelta", contentBlockIndex=0, delta={"text": piece})
                for piece in split_for_stream(decision.text)
            ]
            events.append(event("contentBlockStop", contentBlockIndex=0))
            index = 1
        for call in decision.tool_calls:
            start = {"toolUse": {"toolUseId": new_id("tooluse_", 22), "name": call.name}}
            events.append(event("contentBlockStart", contentBlockIndex=index, start=start))
            events += [
                event("contentBlockDelta", contentBlockIndex=index, delta={"toolUse": {"input": p}})
                for p in split_arguments(call.arguments_json)
            ]
            events.append(event("contentBlockStop", contentBlockIndex=index))
            index += 1
        events.append(event("messageStop", stopReason=_STOP_REASONS[decision.finish_reason]))
        usage = self.render(decision, turn)["usage"]
        events.append(event("metadata", usage=usage, metrics={"latencyMs": 1}))
        return events

    def stream_error_chunk(self, message: str) -> bytes:
        """The exception message ConverseStream sends when the model fails mid-stream."""
        return aws_eventstream.exception("modelStreamErrorException", message)

    def malformed_stream_chunk(self) -> bytes:
        """An event message whose CRC does not match."""
        return aws_eventstream.corrupted(aws_eventstream.event("contentBlockDelta", {}))

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"message": ...}``; the error's name travels in ``x-amzn-ErrorType``."""
        return {"message": message}


def _text_blocks(content: list[Any], index: int) -> str:
    texts = []
    for block in content:
        if not isinstance(block, dict) or len(block) != 1:
            raise RequestError(f"messages.{index}.content: each block needs exactly one member")
        _check_document(block.get("document"), index)
        text = block.get("text")
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise RequestError(
                    f"messages.{index}.content: text content blocks must be non-empty"
                )
            texts.append(text)
    return "\n".join(texts)


_DOCUMENT_FORMATS = frozenset({"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"})
_DOCUMENT_NAME = re.compile(r"[A-Za-z0-9\-()\[\]]+( [A-Za-z0-9\-()\[\]]+)*")


def _check_document(document: object, index: int) -> None:
    """A ``document`` block as Converse takes it: a known format, a name of letters,
    digits, single spaces, hyphens, parentheses and brackets, and its bytes."""
    if document is None:
        return
    where = f"messages.{index}.content.document"
    if not isinstance(document, dict):
        raise RequestError(f"{where}: must be an object")
    if document.get("format") not in _DOCUMENT_FORMATS:
        raise RequestError(f"{where}.format: must be one of {', '.join(sorted(_DOCUMENT_FORMATS))}")
    name = document.get("name")
    if not isinstance(name, str) or not _DOCUMENT_NAME.fullmatch(name):
        raise RequestError(f"{where}.name: letters, digits, single spaces, -()[] only")
    source = document.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("bytes"), str):
        raise RequestError(f"{where}.source.bytes: is required")


def _has_use(block: object) -> bool:
    return isinstance(block, dict) and isinstance(block.get("toolUse"), dict)


def _has_tool_use(content: list[Any]) -> bool:
    return any(_has_use(block) for block in content)


def _has_tools(tool_config: object) -> bool:
    return isinstance(tool_config, dict) and bool(tool_config.get("tools"))


def _tool_results(content: object) -> list[str]:
    """Texts of the ``toolResult`` blocks of one message (``json`` members as JSON)."""
    if not isinstance(content, list):
        return []
    results = []
    for block in content:
        result = block.get("toolResult") if isinstance(block, dict) else None
        if not isinstance(result, dict) or not isinstance(result.get("content"), list):
            continue
        parts = []
        for part in result["content"]:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict) and "json" in part:
                parts.append(orjson.dumps(part["json"]).decode())
        results.append("\n".join(parts))
    return results


def _step(message: Any) -> tuple[Step, list[str]]:
    # Tool results travel in user-role messages: one holding only results is no question.
    if message["role"] == "assistant":
        return "reply", []
    found = _tool_results(message.get("content"))
    return ("results", found) if found else ("question", [])
