"""IBM watsonx.ai chat: ``POST /ml/v1/text/chat``, its streaming twin ``POST
/ml/v1/text/chat_stream``, and IBM Cloud IAM's ``POST /identity/token``.

The stream is SSE, each event ``id: <n>``, ``event: message`` and a ``chat.completion.chunk``
much like OpenAI's: a first chunk with the role, text pieces, tool calls in fragments (the
first with the call's id and name, then arguments pieces whose name is ``""``), the finish
reason, and last a chunk with ``choices: []`` and the usage. A failure after the 200 is an
``event: error`` holding watsonx's error body.

Point a client at the emulator for both the service URL and the IAM URL. The chat route
only accepts bearer tokens the IAM route issued and that have not expired (401 otherwise),
as watsonx.ai does. The IAM route takes the API-key grant as a form
(``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...``); any non-empty key is
accepted, with two conventions for tests:

* a key starting with ``rejected`` is refused as unknown (400, ``BXNIM0415E``);
* a key starting with ``ttl<N>-`` (e.g. ``ttl2-mykey``) gets tokens living ``N`` seconds
  instead of an hour.

``GET /identity/_emulator/stats`` counts exchanges: ``{"issued", "refused", "active"}``.
Recorded chat requests carry ``auth: {"token": <sha256 prefix>}``, so tests can tell
whether two calls used the same token. The ``version`` query parameter (a date,
``YYYY-MM-DD``) is required, as on watsonx.ai.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs

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
    new_id,
    since_last_question,
    split_arguments,
    split_for_stream,
    text_of,
)
from emulator.protocols.vendor_parameters import watsonx_parameters
from emulator.responses import JSONResponse

IAM_TOKEN_PATH = "/identity/token"  # noqa: S105 - a URL path
IAM_STATS_PATH = "/identity/_emulator/stats"
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
TOKEN_LIFETIME_SECONDS = 3600
REJECTED_KEY_PREFIX = "rejected"
_TTL_KEY = re.compile(r"ttl(?P<seconds>\d{1,6})-")
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Issued tokens remembered at most; expired ones are dropped first.
MAX_TOKENS = 10_000
_MORE_INFO = "https://cloud.ibm.com/apidocs/watsonx-ai"
_ROLES = ("system", "user", "assistant", "tool")
_ERROR_CODES: Mapping[int, str] = {
    400: "invalid_input_argument",
    401: "authentication_token_expired",
    403: "authorization_rejected",
    404: "model_not_supported",
    429: "too_many_requests",
}


class WatsonxChat(Protocol):
    """The watsonx.ai text-chat protocol and the IAM token exchange it relies on."""

    name: ClassVar[str] = "watsonx"
    path: ClassVar[str] = "/ml/v1/text/chat"
    stream_path: ClassVar[str | None] = "/ml/v1/text/chat_stream"
    missing_key_message: ClassVar[str] = (
        "Failed to authenticate the request due to an expired token (emulated)."
    )

    def __init__(self) -> None:
        # token -> expiry (epoch seconds); the event loop is single-threaded, no lock needed.
        self._tokens: dict[str, float] = {}
        self._issued = 0
        self._refused = 0

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Only a bearer token this emulator's IAM route issued and that is still valid."""
        authorization = headers.get("authorization", "")
        if not authorization.lower().startswith("bearer "):
            return False
        expiry = self._tokens.get(authorization[7:].strip())
        return expiry is not None and time.time() < expiry

    def check_query(self, query: Mapping[str, str]) -> None:
        """``version`` is required on every watsonx.ai call."""
        version = query.get("version")
        if not version:
            raise RequestError("Missing query parameter 'version'", param="version")
        if not _VERSION.fullmatch(version):
            raise RequestError(f"Invalid 'version' {version!r}: use YYYY-MM-DD", param="version")

    def recorded_auth(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """A fingerprint of the bearer token (never the token itself)."""
        authorization = headers.get("authorization", "")
        if not authorization.lower().startswith("bearer "):
            return None
        digest = hashlib.sha256(authorization[7:].strip().encode()).hexdigest()
        return {"token": digest[:12]}

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate a text-chat request and reduce it to a :class:`Turn`."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        model = body.get("model_id")
        if not isinstance(model, str) or not model:
            raise RequestError("Missing required field 'model_id'", param="model_id")
        if not any(isinstance(body.get(k), str) and body[k] for k in ("project_id", "space_id")):
            raise RequestError("Either 'project_id' or 'space_id' must be specified")
        if "tool_choice" in body and "tool_choice_option" in body:
            raise RequestError("Only one of 'tool_choice' or 'tool_choice_option' may be set")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("'messages' must be a non-empty array", param="messages")
        texts: list[str] = []
        last_user_text = ""
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in _ROLES:
                raise RequestError(f"messages[{index}].role must be one of {', '.join(_ROLES)}")
            if role == "tool" and not isinstance(message.get("tool_call_id"), str):
                raise RequestError(f"messages[{index}].tool_call_id is required")
            text = text_of(message.get("content"))
            if text:
                texts.append(text)
            if role == "user":
                last_user_text = text
        index, tool_results = since_last_question(messages, _step)
        return Turn(
            model=model,
            texts=tuple(texts),
            last_user_text=last_user_text,
            tool_results=tool_results,
            index=index,
            body=body,
            output=watsonx_parameters(body),
        )

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """A text-chat response; like watsonx.ai, no ``content`` beside tool calls."""
        message: dict[str, Any] = {"role": "assistant"}
        if decision.text is not None:
            message["content"] = decision.text
        if decision.tool_calls:
            message["tool_calls"] = [_tool_call(call) for call in decision.tool_calls]
        now = datetime.now(UTC)
        return {
            "id": new_id("chatcmpl-", 32),
            "model_id": turn.model,
            "model": turn.model,
            "choices": [{"index": 0, "message": message, "finish_reason": decision.finish_reason}],
            "created": int(now.timestamp()),
            "model_version": "1.0.0",
            "created_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "usage": {
                "completion_tokens": decision.completion_tokens,
                "prompt_tokens": decision.prompt_tokens,
                "total_tokens": decision.prompt_tokens + decision.completion_tokens,
            },
        }

    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """The ``chat_stream`` events (see the module's docstring)."""
        reply = self.render(decision, turn)
        head = {k: v for k, v in reply.items() if k not in ("choices", "usage")}
        head["object"] = "chat.completion.chunk"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "finish_reason": finish_reason, "delta": delta}
            return {**head, "choices": [choice]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": piece}) for piece in split_for_stream(decision.text or "")]
        for index, call in enumerate(decision.tool_calls):
            first = _tool_call(call)
            first["function"]["arguments"] = ""
            chunks.append(chunk({"tool_calls": [{"index": index, **first}]}))
            chunks += [
                chunk({"tool_calls": [{"index": index, "function": {"name": "", "arguments": p}}]})
                for p in split_arguments(call.arguments_json)
            ]
        chunks.append(chunk({}, decision.finish_reason))
        chunks.append({**head, "choices": [], "usage": reply["usage"]})
        return [_event(n, "message", c) for n, c in enumerate(chunks, start=1)]

    def stream_error_chunk(self, message: str) -> bytes:
        """An ``error`` event holding watsonx's error body."""
        return _event(0, "error", self.render_error(500, message))

    def malformed_stream_chunk(self) -> bytes:
        """A ``message`` event whose data is cut-off JSON."""
        return b'id: 0\nevent: message\ndata: {"choices": [{"delta": {"content": "cut off\n\n'

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"errors": [{"code", "message", "more_info"}], "trace", "status_code"}``."""
        code = _ERROR_CODES.get(status, "internal_server_error" if status >= 500 else "bad_request")
        error = {"code": code, "message": message, "more_info": _MORE_INFO}
        return {"errors": [error], "trace": secrets.token_hex(16), "status_code": status}

    def extra_routes(self) -> Sequence[BaseRoute]:
        """The IAM token exchange and its counters."""
        return [
            Route(IAM_TOKEN_PATH, self._issue_token, methods=["POST"]),
            Route(IAM_STATS_PATH, self._stats, methods=["GET"]),
        ]

    async def _issue_token(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        if content_type != "application/x-www-form-urlencoded":
            return _iam_error(400, "BXNIM0109E", "Property missing or empty.", "grant_type")
        grant, api_key = form.get("grant_type", ""), form.get("apikey", "").strip()
        if not grant:
            return _iam_error(400, "BXNIM0109E", "Property missing or empty.", "grant_type")
        if grant != APIKEY_GRANT:
            message = "Property 'grant_type' has an unsupported value."
            return _iam_error(400, "BXNIM0109E", message, None)
        if not api_key:
            return _iam_error(400, "BXNIM0109E", "Property missing or empty.", "apikey")
        if api_key.startswith(REJECTED_KEY_PREFIX):
            self._refused += 1
            return _iam_error(400, "BXNIM0415E", "Provided API key could not be found.", None)
        ttl = _TTL_KEY.match(api_key)
        lifetime = int(ttl["seconds"]) if ttl else TOKEN_LIFETIME_SECONDS
        token = self._remember(lifetime)
        return JSONResponse(
            {
                "access_token": token,
                "refresh_token": "not_supported",
                "ims_user_id": 1000001,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "expiration": int(time.time()) + lifetime,
                "scope": "ibm openid",
            }
        )

    def _remember(self, lifetime: int) -> str:
        now = time.time()
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens = {t: e for t, e in self._tokens.items() if e > now}
            while len(self._tokens) >= MAX_TOKENS:  # all still valid: forget the oldest
                del self._tokens[next(iter(self._tokens))]
        token = "eyJemulated." + secrets.token_urlsafe(32)
        self._tokens[token] = now + lifetime
        self._issued += 1
        return token

    async def _stats(self, request: Request) -> Response:
        now = time.time()
        active = sum(1 for expiry in self._tokens.values() if expiry > now)
        return JSONResponse({"issued": self._issued, "refused": self._refused, "active": active})


def _event(number: int, event: str, data: dict[str, Any]) -> bytes:
    return f"id: {number}\nevent: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def _iam_error(status: int, code: str, message: str, missing: str | None) -> Response:
    """IAM's error shape: ``{"errorCode", "errorMessage", "context": {...}}``."""
    body: dict[str, Any] = {
        "errorCode": code,
        "errorMessage": message,
        "context": {
            "requestId": secrets.token_hex(16),
            "requestType": "incoming.Identity_Token",
            "url": "emulator",
        },
    }
    if missing:
        body["errorDetails"] = f"Property '{missing}' either missing or empty."
    return JSONResponse(body, status_code=status)


def _step(message: Any) -> tuple[Step, list[str]]:
    role = message["role"]
    if role == "user":
        return "question", []
    if role == "assistant":
        return "reply", []
    return "results", [text_of(message.get("content"))] if role == "tool" else []


def _tool_call(call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments_json}
    return {"id": new_id("chatcmpl-tool-", 16), "type": "function", "function": function}
