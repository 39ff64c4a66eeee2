"""Ollama's native chat API: ``POST /api/chat`` and ``GET /api/tags``.

Documented at https://github.com/ollama/ollama/blob/main/docs/api.md. No authentication (a
local server). Streaming is Ollama's default: unless the body says ``"stream": false`` the
answer is newline-delimited JSON objects, the last one with ``"done": true`` and the token
counts. Tool calls carry no ids and their ``arguments`` are a JSON object, each call whole in
a line of its own; a failure after the 200 is a line ``{"error": "..."}``. A tool result is a
``role: "tool"`` message naming the tool in ``tool_name``. Images are bare base64 strings.

``GET /api/tags`` lists the emulator state's ``ollama_models`` (change them with ``PUT
/_emulator/ollama/models``); generation accepts any model name.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.behaviour import Decision, Turn
from emulator.directives import ToolCall
from emulator.protocols.base import (
    Protocol,
    RequestError,
    Step,
    since_last_question,
    split_for_stream,
)
from emulator.protocols.openai_parameters import logprob_entries
from emulator.protocols.vendor_parameters import ollama_parameters
from emulator.responses import JSONResponse
from emulator.state import EmulatorState

_ROLES = ("system", "user", "assistant", "tool")
# Made-up but plausible durations (nanoseconds) for the final object's statistics.
_NS_PER_TOKEN = 20_000_000


class OllamaChat(Protocol):
    """The Ollama chat protocol."""

    name: ClassVar[str] = "ollama"
    path: ClassVar[str] = "/api/chat"
    answer_field: ClassVar[str] = "message"
    stream_media_type: ClassVar[str] = "application/x-ndjson"

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Ollama has no authentication."""
        return True

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate a chat request the way the Go server decodes it."""
        if not isinstance(body, dict):
            raise RequestError("invalid request body")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("model is required")
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise RequestError("messages must be an array")
        texts: list[str] = []
        last_user_text = ""
        for message in messages:
            text = _check_message(message)
            if text:
                texts.append(text)
            if message["role"] == "user":
                last_user_text = text
        index, tool_results = since_last_question(messages, _step)
        return Turn(
            model=model,
            texts=tuple(texts),
            last_user_text=last_user_text,
            tool_results=tool_results,
            index=index,
            stream=body.get("stream") is not False,
            body=body,
            output=ollama_parameters(body),
        )

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """The single final object of a non-streamed chat."""
        message: dict[str, Any] = {"role": "assistant", "content": decision.text or ""}
        if decision.tool_calls:
            message["tool_calls"] = [_tool_call(call) for call in decision.tool_calls]
        return {
            **_head(turn),
            "message": message,
            **_logprobs(turn, decision.text or ""),
            **_final(decision),
        }

    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """One JSON object per line: text pieces, the tool calls, then the final object."""

        def line(message: dict[str, Any], **fields: Any) -> bytes:
            return orjson.dumps({**_head(turn), "message": message, **fields}) + b"\n"

        pieces = split_for_stream(decision.text or "")
        lines = [
            line({"role": "assistant", "content": p}, **_logprobs(turn, p), done=False)
            for p in pieces
        ]
        lines += [
            line({"role": "assistant", "content": "", "tool_calls": [_tool_call(call)]}, done=False)
            for call in decision.tool_calls
        ]
        lines.append(line({"role": "assistant", "content": ""}, **_final(decision)))
        return lines

    def stream_error_chunk(self, message: str) -> bytes:
        """Ollama reports a failure after its 200 as a line holding only the error."""
        return orjson.dumps({"error": message}) + b"\n"

    def malformed_stream_chunk(self) -> bytes:
        """A line that is not JSON (cut off)."""
        return b'{"model": "m", "message": {"role": "assistant", "content": "cut off\n'

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"error": "..."}``."""
        return {"error": message}

    def extra_routes(self) -> Sequence[BaseRoute]:
        """``GET /api/tags``."""
        return [Route("/api/tags", _list_models, methods=["GET"])]


def _check_message(message: object) -> str:
    """The message's text; ``RequestError`` for what Ollama's decoder refuses."""
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        raise RequestError("each message needs a role: system, user, assistant or tool")
    content = message.get("content", "")
    if not isinstance(content, str):
        raise RequestError("message content must be a string")
    images = message.get("images") or []
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise RequestError("images must be an array of base64 strings")
    for image in images:
        try:
            b64decode(image, validate=True)
        except binascii.Error:
            # Go's encoding/base64 wording; a data: URL prefix ends up here.
            raise RequestError("illegal base64 data at input byte 4") from None
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError("each tool call needs a function with a name")
        if not isinstance(function.get("arguments", {}), dict):
            raise RequestError("tool call arguments must be an object, not a string")
    return content


def _step(message: Any) -> tuple[Step, list[str]]:
    role = message["role"]
    if role == "user":
        return "question", []
    if role == "assistant":
        return "reply", []
    return "results", [message.get("content", "")] if role == "tool" else []


def _logprobs(turn: Turn, text: str) -> dict[str, Any]:
    """``{"logprobs": [...]}`` for ``text`` when the request asked for them, else nothing."""
    if turn.body.get("logprobs") is not True:
        return {}
    top = turn.body.get("top_logprobs")
    return {"logprobs": logprob_entries(text, top if isinstance(top, int) else 0)}


def _head(turn: Turn) -> dict[str, Any]:
    return {"model": turn.model, "created_at": datetime.now(UTC).isoformat()}


def _final(decision: Decision) -> dict[str, Any]:
    # Ollama says "stop" after tool calls too; only a cut-off answer is "length".
    reason = "length" if decision.finish_reason == "length" else "stop"
    return {
        "done_reason": reason,
        "done": True,
        "total_duration": (decision.prompt_tokens + decision.completion_tokens) * _NS_PER_TOKEN,
        "load_duration": 1_000_000,
        "prompt_eval_count": decision.prompt_tokens,
        "prompt_eval_duration": decision.prompt_tokens * _NS_PER_TOKEN,
        "eval_count": decision.completion_tokens,
        "eval_duration": decision.completion_tokens * _NS_PER_TOKEN,
    }


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"function": {"name": call.name, "arguments": dict(call.arguments)}}


async def _list_models(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    return JSONResponse({"models": [_tag(name) for name in state.ollama_models]})


def _tag(name: str) -> dict[str, Any]:
    """One ``/api/tags`` entry, shaped like the documented example."""
    return {
        "name": name,
        "model": name,
        "modified_at": "2024-12-07T09:32:18.757212583-08:00",
        "size": 2019393189,
        "digest": binascii.hexlify(name.encode()).decode().ljust(64, "0")[:64],
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }
