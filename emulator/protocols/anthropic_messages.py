"""Anthropic Messages: ``POST /v1/messages``.

Point the official SDK at it with ``Anthropic(base_url="http://host:port")``.
Streaming (``"stream": true``) sends the ``message_start`` / ``ping`` /
``content_block_*`` / ``message_delta`` / ``message_stop`` SSE sequence, as the API does:
usage in two places (``message_start`` has the input tokens and a first output count,
``message_delta`` the final output count), a tool call's ``input`` as ``input_json_delta``
fragments after an empty one, and a failure after the 200 as an ``error`` event
(``overloaded_error``). The request's options (``tool_choice``, ``output_config``,
``service_tier``, ``metadata``) are checked as the API checks them
(:mod:`emulator.protocols.anthropic_options`); structured output and a forced tool shape
the reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from emulator.behaviour import Decision, Turn
from emulator.directives import FinishReason
from emulator.protocols.anthropic_options import read_options
from emulator.protocols.base import (
    Protocol,
    RequestError,
    Step,
    new_id,
    since_last_question,
    split_arguments,
    split_for_stream,
    sse,
    text_of,
)

_STOP_REASONS: Mapping[FinishReason, str] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
}
_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class AnthropicMessages(Protocol):
    """The Anthropic Messages protocol."""

    name: ClassVar[str] = "anthropic"
    path: ClassVar[str] = "/v1/messages"
    answer_field: ClassVar[str] = "content"
    missing_key_message: ClassVar[str] = "x-api-key header is required (emulated)"
    count_path: ClassVar[str | None] = "/v1/messages/count_tokens"

    def count_turn(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """A message's request without ``max_tokens`` (which it may not carry): counted as
        the message's ``input_tokens`` would be."""
        if isinstance(body, dict) and "max_tokens" in body:
            raise RequestError("max_tokens: Extra inputs are not permitted", param="max_tokens")
        return self.parse({**body, "max_tokens": 1} if isinstance(body, dict) else body, {})

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate a Messages request and reduce it to a :class:`Turn`."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("model: Field required", param="model")
        max_tokens = body.get("max_tokens")
        # The real API requires max_tokens; a client that forgets it should fail here too.
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise RequestError("max_tokens: Field required (positive integer)", param="max_tokens")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages: must be a non-empty list", param="messages")
        system = text_of(body.get("system"))
        texts = [system] if system else []
        last_user_text = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise RequestError(
                    f"messages.{index}.role: must be 'user' or 'assistant'",
                    param=f"messages.{index}.role",
                )
            _check_documents(message.get("content"), index)
            text = text_of(message.get("content"))
            results = _tool_results(message.get("content"))
            texts += [part for part in (text, *results) if part]
            if message["role"] == "user" and text:
                last_user_text = text
        index, tool_results = since_last_question(messages, _step)
        options = read_options(body)
        return Turn(
            model=model,
            texts=tuple(texts),
            last_user_text=last_user_text,
            tool_results=tool_results,
            index=index,
            stream=body.get("stream") is True,
            body=body,
            output=options.output,
            forced_tool=options.forced_tool,
        )

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """A ``message`` object."""
        content: list[dict[str, Any]] = []
        if decision.text is not None:
            content.append({"type": "text", "text": decision.text})
        content += [
            {"type": "tool_use", "id": new_id("toolu_"), "name": call.name, "input": call.arguments}
            for call in decision.tool_calls
        ]
        return {
            **_message_head(turn),
            "content": content,
            "stop_reason": _STOP_REASONS[decision.finish_reason],
            "usage": {
                "input_tokens": decision.prompt_tokens,
                "output_tokens": decision.completion_tokens,
            },
        }

    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """The Messages streaming event sequence."""
        start = {
            **_message_head(turn),
            "content": [],
            "stop_reason": None,
            # The API counts the first output token already here; message_delta has the total.
            "usage": {"input_tokens": decision.prompt_tokens, "output_tokens": 1},
        }
        events = [sse({"type": "message_start", "message": start}, "message_start")]
        events.append(_event("ping"))
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        if decision.text is not None:
            deltas = [{"type": "text_delta", "text": p} for p in split_for_stream(decision.text)]
            blocks.append(({"type": "text", "text": ""}, deltas))
        for call in decision.tool_calls:
            block = {"type": "tool_use", "id": new_id("toolu_"), "name": call.name, "input": {}}
            pieces = ["", *split_arguments(call.arguments_json)]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
            blocks.append((block, deltas))
        for index, (block, deltas) in enumerate(blocks):
            events.append(_event("content_block_start", index=index, content_block=block))
            events += [_event("content_block_delta", index=index, delta=d) for d in deltas]
            events.append(_event("content_block_stop", index=index))
        stop = {"stop_reason": _STOP_REASONS[decision.finish_reason], "stop_sequence": None}
        usage = {"output_tokens": decision.completion_tokens}
        events.append(_event("message_delta", delta=stop, usage=usage))
        events.append(_event("message_stop"))
        return events

    def malformed_stream_chunk(self) -> bytes:
        """A named event (clients skip unnamed ones) whose data is cut-off JSON."""
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "cut off\n\n'

    def stream_error_chunk(self, message: str) -> bytes:
        """The ``error`` event the API sends when it fails mid-stream: overloaded."""
        return sse(self.render_error(529, message), "error")

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"type": "error", "error": {"type", "message"}}``."""
        error_type = _ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": error_type, "message": message}}


def _message_head(turn: Turn) -> dict[str, Any]:
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": turn.model,
        "stop_sequence": None,
    }


def _event(kind: str, **fields: Any) -> bytes:
    return sse({"type": kind, **fields}, kind)


def _tool_results(content: object) -> list[str]:
    """Texts of the ``tool_result`` blocks of one message's content."""
    if not isinstance(content, list):
        return []
    return [
        text_of(block.get("content"))
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def _step(message: Any) -> tuple[Step, list[str]]:
    # Tool results travel in user-role messages: one holding only results is no question.
    if message["role"] == "assistant":
        return "reply", []
    found = _tool_results(message.get("content"))
    return ("results", found) if found else ("question", [])


# A document block's source, as the API takes it: (type, media_type, data field's type).
_DOCUMENT_SOURCES: Mapping[str, tuple[str | None, str]] = {
    "base64": ("application/pdf", "data"),
    "text": ("text/plain", "data"),
    "url": (None, "url"),
}


def _check_documents(content: object, index: int) -> None:
    """The ``document`` blocks of a message: a PDF in base64, plain text, or a URL."""
    if not isinstance(content, list):
        return
    for j, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "document":
            continue
        where = f"messages.{index}.content.{j}.source"
        source = block.get("source")
        kind = source.get("type") if isinstance(source, dict) else None
        if (
            not isinstance(source, dict)
            or not isinstance(kind, str)
            or kind not in _DOCUMENT_SOURCES
        ):
            raise RequestError(f"{where}.type: must be base64, text or url", param=where)
        media_type, field = _DOCUMENT_SOURCES[kind]
        if media_type is not None and source.get("media_type") != media_type:
            raise RequestError(f"{where}.media_type: must be {media_type}", param=where)
        if not isinstance(source.get(field), str) or not source[field]:
            raise RequestError(f"{where}.{field}: Field required", param=where)
