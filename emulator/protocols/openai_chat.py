"""OpenAI Chat Completions: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Point the official SDK at it with ``OpenAI(base_url="http://host:port/v1")``.
Streaming (``"stream": true``) sends ``chat.completion.chunk`` SSE events and
ends with ``data: [DONE]``; a usage chunk (``choices: []``) is added before it when
``stream_options.include_usage`` is set, as the real API does (the other chunks then carry
``"usage": null``). A tool call streams as OpenAI's do: a first fragment with the call's
index, id and name and empty arguments, then the arguments in pieces under the same index.
A mid-stream failure is a data event holding ``{"error": {...}}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.behaviour import Decision, Turn
from emulator.directives import ToolCall
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
from emulator.protocols.openai_parameters import check_parameters, logprob_entries
from emulator.responses import JSONResponse

#: Listed by ``GET /v1/models``; any model name is accepted for completions.
LISTED_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini")

_ERROR_TYPES: Mapping[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


class OpenAIChat(Protocol):
    """The OpenAI Chat Completions protocol."""

    name: ClassVar[str] = "openai"
    path: ClassVar[str] = "/v1/chat/completions"
    missing_key_message: ClassVar[str] = "You didn't provide an API key (emulated)."

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate a chat completion request and reduce it to a :class:`Turn`."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("'messages' must be a non-empty array", param="messages")
        texts: list[str] = []
        last_user_text = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise RequestError("each message needs a 'role'", param=f"messages.[{index}]")
            text = text_of(message.get("content"))
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
            stream=body.get("stream") is True,
            body=body,
            output=check_parameters(body),
        )

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """A ``chat.completion`` object."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": decision.text,
            "refusal": None,
            "annotations": [],
        }
        if decision.tool_calls:
            message["tool_calls"] = [_tool_call(call) for call in decision.tool_calls]
        return {
            "id": new_id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": turn.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": _logprobs(turn, decision.text or ""),
                    "finish_reason": decision.finish_reason,
                }
            ],
            "usage": _usage(decision),
            **_echoed(turn),
        }

    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """``chat.completion.chunk`` events, then ``[DONE]``."""
        base = {
            "id": new_id("chatcmpl-", 29),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": turn.model,
            **_echoed(turn),
        }

        options = turn.body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        if with_usage:
            base["usage"] = None

        def chunk(
            delta: dict[str, Any], finish_reason: str | None = None, logprobs: object = None
        ) -> bytes:
            choice = {
                "index": 0,
                "delta": delta,
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }
            return sse(self.stream_chunk({**base, "choices": [choice]}))

        first_content = "" if decision.text is not None else None
        events = self.stream_preamble(base)
        events.append(chunk({"role": "assistant", "content": first_content, "refusal": None}))
        events += [
            chunk({"content": piece}, logprobs=_logprobs(turn, piece))
            for piece in split_for_stream(decision.text or "")
        ]
        for index, call in enumerate(decision.tool_calls):
            head = _tool_call(call)
            head["function"]["arguments"] = ""
            events.append(chunk({"tool_calls": [{"index": index, **head}]}))
            events += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in split_arguments(call.arguments_json)
            ]
        events.append(chunk({}, decision.finish_reason))
        if with_usage:
            events.append(sse({**base, "choices": [], "usage": _usage(decision)}))
        events.append(sse(b"[DONE]"))
        return events

    def stream_preamble(self, base: dict[str, Any]) -> list[bytes]:
        """Events sent before the first chunk; none (Azure sends its prompt filter results)."""
        return []

    def stream_chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """One ``chat.completion.chunk`` as sent; as rendered (Azure annotates it)."""
        return chunk

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"error": {"message", "type", "param", "code"}}``."""
        error_type, code = _ERROR_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        return {"error": {"message": message, "type": error_type, "param": param, "code": code}}

    def extra_routes(self) -> Sequence[BaseRoute]:
        """``GET /v1/models``."""
        return [Route("/v1/models", self._list_models, methods=["GET"])]

    async def _list_models(self, request: Request) -> Response:
        if not self.authenticate(request.headers):
            return JSONResponse(self.render_error(401, self.missing_key_message), status_code=401)
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "emulator"}
            for model in LISTED_MODELS
        ]
        return JSONResponse({"object": "list", "data": data})


def _step(message: Any) -> tuple[Step, list[str]]:
    role = message["role"]
    if role == "user":
        return "question", []
    if role == "assistant":
        return "reply", []
    return "results", [text_of(message.get("content"))] if role == "tool" else []


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": new_id("call_"),
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments_json},
    }


def _logprobs(turn: Turn, text: str) -> dict[str, Any] | None:
    """A choice's (or a chunk's) ``logprobs``: null unless the request set ``logprobs``."""
    if turn.body.get("logprobs") is not True:
        return None
    top = turn.body.get("top_logprobs")
    entries = logprob_entries(text, top if isinstance(top, int) else 0)
    return {"content": entries, "refusal": None}


def _echoed(turn: Turn) -> dict[str, Any]:
    """What OpenAI echoes of a request: the tier that served it (``auto`` runs as
    ``default``) and, for a seeded request, the backend's fingerprint."""
    out: dict[str, Any] = {"system_fingerprint": None}
    if turn.body.get("seed") is not None:
        out["system_fingerprint"] = "fp_emulated"
    tier = turn.body.get("service_tier")
    if tier is not None:
        out["service_tier"] = "default" if tier == "auto" else tier
    return out


def _usage(decision: Decision) -> dict[str, int]:
    return {
        "prompt_tokens": decision.prompt_tokens,
        "completion_tokens": decision.completion_tokens,
        "total_tokens": decision.prompt_tokens + decision.completion_tokens,
    }
