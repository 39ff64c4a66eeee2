"""Vertex AI Gemini ``generateContent``:
``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent``, and
``:streamGenerateContent?alt=sse`` (only the SSE form is emulated), which answers the same
request as server-sent events, each a whole ``GenerateContentResponse``: text pieces, each
function call whole in a chunk of its own, the finish reason with the last content, and
usage in every chunk (the prompt's count until the last, which has the totals). A failure
after the 200 is an event holding Google's ``{"error": {...}}``.

Requests must carry a Bearer token from the emulated Google token endpoint
(:mod:`emulator.protocols.google_oauth`, served alongside), as the real API needs an OAuth
access token from the service-account exchange. Requests are parsed as strictly as Google
parses protobuf JSON: an unknown field (a JSON Schema keyword Gemini lacks, say) is a 400.

``:countTokens`` (the same path, another method) takes the request's ``contents``,
``systemInstruction``, ``tools`` and ``generationConfig`` (``toolConfig``, ``labels`` and
the safety settings are no fields of ``CountTokensRequest``: a 400) and answers
``{"totalTokens", "promptTokensDetails"}``, ``totalTokens`` being what the generation's
``usageMetadata.promptTokenCount`` would be.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.routing import BaseRoute

from emulator.behaviour import Decision, Turn
from emulator.directives import FinishReason
from emulator.protocols.base import (
    Protocol,
    RequestError,
    Step,
    new_id,
    since_last_question,
    split_for_stream,
    sse,
)
from emulator.protocols.google_oauth import GoogleTokens
from emulator.protocols.vertex_options import check_schema, field, known, read_options

_FINISH: Mapping[FinishReason, str] = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"}
# google.rpc.Code names, as Google APIs put them in error.status.
_STATUS: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_REQUEST_FIELDS = frozenset(
    [
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "labels",
        "cachedContent",
        "modelArmorConfig",
    ]
)
# CountTokensRequest's fields for a Gemini model (its ``model`` and ``instances`` are for
# other models and not emulated).
_COUNT_FIELDS = frozenset(["contents", "systemInstruction", "tools", "generationConfig"])
_PART_DATA = frozenset(("text", "inlineData", "fileData", "functionCall", "functionResponse"))
_PART_META = frozenset(("thought", "thoughtSignature", "videoMetadata", "mediaResolution"))


class VertexGemini(Protocol):
    """The Vertex AI ``generateContent`` protocol and its OAuth token endpoint."""

    name: ClassVar[str] = "vertex"
    path: ClassVar[str] = (
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"
        ":generateContent"
    )
    stream_path: ClassVar[str | None] = (
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"
        ":streamGenerateContent"
    )
    count_path: ClassVar[str | None] = (
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:countTokens"
    )
    answer_field: ClassVar[str] = "candidates"
    missing_key_message: ClassVar[str] = (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential (emulated)."
    )

    def __init__(self) -> None:
        self.tokens = GoogleTokens()

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Only a Bearer token the token endpoint issued, before it expires."""
        return self.tokens.authorized(headers)

    def check_stream_query(self, query: Mapping[str, str]) -> None:
        """Without ``alt=sse`` Google answers a JSON array, which is not emulated."""
        if query.get("alt") != "sse":
            raise RequestError("the emulator serves streamGenerateContent with alt=sse only")

    def recorded_auth(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """When (and for which service account) the request's token was issued."""
        return self.tokens.describe(headers)

    def extra_routes(self) -> Sequence[BaseRoute]:
        """The OAuth token endpoint the service-account credentials call."""
        return self.tokens.routes()

    def count_turn(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """A ``countTokens`` request: only ``CountTokensRequest``'s fields, the rest parsed
        as ``generateContent`` parses them."""
        if isinstance(body, dict):
            known(body, _COUNT_FIELDS, "")
        return self.parse(body, path_params)

    def render_count(self, tokens: int) -> dict[str, Any]:
        """A ``CountTokensResponse`` (the emulator counts text only)."""
        return {
            "totalTokens": tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
        }

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate a ``generateContent`` request and reduce it to a :class:`Turn`."""
        if not isinstance(body, dict):
            raise RequestError("Invalid JSON payload received. Expected an object.")
        known(body, _REQUEST_FIELDS, "")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise RequestError("contents: must be a non-empty list", param="contents")
        system = body.get("systemInstruction")
        texts = _texts(_parts(system, "systemInstruction")) if system is not None else []
        turns = [_content(c, f"contents[{i}]") for i, c in enumerate(contents)]
        for _, parts in turns:
            texts += _texts(parts)
        _check_tools(body.get("tools"))
        shape = read_options(body)
        index, results = since_last_question(turns, _step)
        user_texts = [_texts(p, results=False) for r, p in turns if r == "user"]
        user_texts = [t for t in user_texts if t]
        return Turn(
            model=path_params.get("model", ""),
            texts=tuple(texts),
            last_user_text="\n".join(user_texts[-1]) if user_texts else "",
            tool_results=results,
            index=index,
            body=body,
            output=shape.output,
        )

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """A ``GenerateContentResponse``; function calls carry no id, as on Vertex v1."""
        parts: list[dict[str, Any]] = []
        if decision.text is not None:
            parts.append({"text": decision.text})
        parts += [
            {"functionCall": {"name": call.name, "args": dict(call.arguments)}}
            for call in decision.tool_calls
        ]
        candidate = {
            "content": {"role": "model", "parts": parts},
            "finishReason": _FINISH[decision.finish_reason],
            "index": 0,
        }
        return {"candidates": [candidate], **_envelope(decision, turn)}

    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """``streamGenerateContent?alt=sse`` events (see the module's docstring)."""
        envelope = _envelope(decision, turn)
        pieces: list[dict[str, Any]] = [
            {"text": piece} for piece in split_for_stream(decision.text or "")
        ]
        pieces += [
            {"functionCall": {"name": call.name, "args": dict(call.arguments)}}
            for call in decision.tool_calls
        ]
        pieces = pieces or [{"text": ""}]
        events = []
        for n, part in enumerate(pieces, start=1):
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
            usage = dict(envelope["usageMetadata"])
            if n < len(pieces):  # partial counts until the last chunk
                usage = {k: usage[k] for k in ("promptTokenCount",)}
            else:
                candidate["finishReason"] = _FINISH[decision.finish_reason]
            events.append(sse({"candidates": [candidate], **envelope, "usageMetadata": usage}))
        return events

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"error": {"code", "message", "status"}}``, Google's error shape."""
        fallback = "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"
        return {
            "error": {"code": status, "message": message, "status": _STATUS.get(status, fallback)}
        }


def _envelope(decision: Decision, turn: Turn) -> dict[str, Any]:
    usage = {
        "promptTokenCount": decision.prompt_tokens,
        "candidatesTokenCount": decision.completion_tokens,
        "totalTokenCount": decision.prompt_tokens + decision.completion_tokens,
    }
    created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "usageMetadata": usage,
        "modelVersion": turn.model,
        "createTime": created,
        "responseId": new_id("", 22),
    }


def _parts(content: object, param: str) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise RequestError(f"{param}.parts: must be a non-empty list", param=f"{param}.parts")
    for j, part in enumerate(parts):
        where = f"{param}.parts[{j}]"
        if not isinstance(part, dict):
            raise RequestError(f"{where}: must be an object", param=where)
        known(part, _PART_DATA | _PART_META, where)
        data = [k for k in _PART_DATA if field(part, k) is not None]
        if len(data) != 1:
            raise RequestError(f"{where}: exactly one data field is required", param=where)
        call = field(part, "functionCall") or field(part, "functionResponse") or {}
        if not isinstance(call, dict) or ("name" not in call and data[0].startswith("function")):
            raise RequestError(f"{where}.{data[0]}.name: is required", param=where)
    return parts


def _content(content: object, param: str) -> tuple[str, list[dict[str, Any]]]:
    parts = _parts(content, param)
    role = content.get("role", "user") if isinstance(content, dict) else None
    if role not in ("user", "model"):
        raise RequestError("Please use a valid role: user, model.", param=f"{param}.role")
    return str(role), parts


def _texts(parts: list[dict[str, Any]], *, results: bool = True) -> list[str]:
    """Text parts and (unless ``results`` is false) function response texts, in order."""
    texts: list[str] = []
    for part in parts:
        if isinstance(text := part.get("text"), str) and text:
            texts.append(text)
        elif results and isinstance(response := field(part, "functionResponse"), dict):
            texts.append(_result_text(response.get("response")))
    return texts


def _result_text(response: object) -> str:
    """A function response as the text the default reply echoes."""
    if isinstance(response, dict) and set(response) == {"output"}:
        output = response["output"]
        return output if isinstance(output, str) else json.dumps(output)
    return json.dumps(response)


def _check_tools(tools: object) -> None:
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        declarations = field(tool, "functionDeclarations") if isinstance(tool, dict) else None
        for j, declaration in enumerate(declarations or []):
            where = f"tools[{i}].function_declarations[{j}]"
            if not isinstance(declaration, dict) or not declaration.get("name"):
                raise RequestError(f"{where}.name: is required", param=where)
            if declaration.get("parameters") is not None:
                check_schema(declaration["parameters"], f"{where}.parameters")


def _step(turn: tuple[str, list[dict[str, Any]]]) -> tuple[Step, list[str]]:
    # Function responses travel in user turns: one holding only responses is no question.
    role, parts = turn
    if role == "model":
        return "reply", []
    if not all(field(p, "functionResponse") is not None for p in parts):
        return "question", []
    return "results", _texts(parts)
