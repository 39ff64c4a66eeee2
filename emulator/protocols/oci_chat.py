"""OCI Generative AI chat: ``POST /20231130/actions/chat`` in the GENERIC api format.

Point the official SDK at it with ``GenerativeAiInferenceClient(config,
service_endpoint="http://host:port")`` (the SDK adds ``/20231130``). Requests must carry
OCI's HTTP signature (``authorization: Signature version="1",keyId=...``) over the body
headers; the signature itself is not verified (the emulator has no public keys), but the
``keyId`` is recorded (``auth.key_id`` of each request record) so tests can see which key
signed. The model is ``servingMode.modelId`` (or ``endpointId``). Every response carries
an ``opc-request-id``; errors use OCI's shape, ``{"code": "TooManyRequests", "message"}``.

With ``chatRequest.isStream`` the answer is data-only server-sent events (content type
exactly ``text/event-stream``, which is how the SDK recognises a stream): text pieces as
``{"index", "message": {"role", "content": [TEXT part]}}``, a tool call as a first fragment
with its id and name and empty arguments then argument pieces without either (as OCI's
GENERIC models send them), ``{"index", "finishReason"}``, and, when
``streamOptions.isIncludeUsage`` is set, an event with the ``usage`` and ``data: [DONE]``
(as OCI's ``StreamOptions`` reference describes it). A failure after
the 200 is an event holding OCI's error body (OCI documents none; this is the emulator's).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

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
)
from emulator.protocols.vendor_parameters import oci_parameters

#: Headers OCI signs on a request with a body (the SDK's ``Signer`` signs exactly these).
SIGNED_HEADERS = ("date", "(request-target)", "host", "content-length", "content-type")
BODY_HASH_HEADER = "x-content-sha256"
#: Recorded in place of a resource or instance principal's ``ST$<session token>`` keyId.
SESSION_TOKEN_KEY_ID = "ST$[session token]"  # noqa: S105 - a placeholder
_SIGNATURE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_ROLES = ("SYSTEM", "USER", "ASSISTANT", "TOOL", "DEVELOPER")
# OCI's error codes, from its API error reference.
_ERROR_CODES: Mapping[int, str] = {
    400: "InvalidParameter",
    401: "NotAuthenticated",
    403: "NotAuthorized",
    404: "NotAuthorizedOrNotFound",
    409: "IncorrectState",
    413: "RequestEntityTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


def signature_params(authorization: str) -> dict[str, str] | None:
    """The ``key="value"`` parameters of a ``Signature`` authorization header, or None."""
    scheme, _, params = authorization.partition(" ")
    if scheme != "Signature":
        return None
    return dict(_SIGNATURE_PARAM.findall(params))


def _valid_key_id(key_id: str) -> bool:
    # An API key is "<tenancy>/<user>/<fingerprint>"; principals sign with "ST$<token>".
    parts = key_id.split("/")
    return key_id.startswith("ST$") or (len(parts) == 3 and all(parts))


def _is_base64(value: str) -> bool:
    try:
        return bool(value) and bool(base64.b64decode(value, validate=True))
    except binascii.Error:
        return False


class OCIChat(Protocol):
    """The OCI Generative AI chat protocol (GENERIC format)."""

    name: ClassVar[str] = "oci"
    path: ClassVar[str] = "/20231130/actions/chat"
    answer_field: ClassVar[str] = "chatResponse"
    missing_key_message: ClassVar[str] = (
        "The required information to complete authentication was not provided or was "
        "incorrect. (emulated)"
    )

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """A well-formed OCI signature over the body headers, and those headers present."""
        params = signature_params(headers.get("authorization", ""))
        if params is None:
            return False
        key_id = params.get("keyId", "")
        signed = params.get("headers", "").split()
        return (
            params.get("version") == "1"
            and params.get("algorithm") == "rsa-sha256"
            and _valid_key_id(key_id)
            and all(h in signed for h in (*SIGNED_HEADERS, BODY_HASH_HEADER))
            and _is_base64(params.get("signature", ""))
            and bool(headers.get(BODY_HASH_HEADER) and headers.get("date"))
        )

    def recorded_auth(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """The signing ``keyId`` and the signed headers. An API key's id is no secret
        (tenancy/user/fingerprint); a principal's session token is, and is not kept."""
        params = signature_params(headers.get("authorization", ""))
        if params is None:
            return None
        key_id = params.get("keyId", "")
        return {
            "scheme": "Signature",
            "key_id": SESSION_TOKEN_KEY_ID if key_id.startswith("ST$") else key_id,
            "signed_headers": params.get("headers", ""),
        }

    def parse(self, body: Any, path_params: Mapping[str, str]) -> Turn:
        """Validate a ``ChatDetails`` body and reduce it to a :class:`Turn`."""
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        compartment = body.get("compartmentId")
        if not isinstance(compartment, str) or not compartment:
            raise RequestError("compartmentId is required.", param="compartmentId")
        model = _model(body.get("servingMode"))
        chat = body.get("chatRequest")
        if not isinstance(chat, dict):
            raise RequestError("chatRequest is required.", param="chatRequest")
        if chat.get("apiFormat") != "GENERIC":
            raise RequestError(
                "Only the GENERIC apiFormat is emulated.", param="chatRequest.apiFormat"
            )
        messages = chat.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list.", param="chatRequest.messages")
        texts: list[str] = []
        last_user_text = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                param = f"chatRequest.messages[{index}].role"
                raise RequestError(f"role must be one of {', '.join(_ROLES)}.", param=param)
            text = _text_of(message.get("content"))
            if text:
                texts.append(text)
            if message["role"] == "USER":
                last_user_text = text
        index, tool_results = since_last_question(messages, _step)
        return Turn(
            model=model,
            texts=tuple(texts),
            last_user_text=last_user_text,
            tool_results=tool_results,
            index=index,
            stream=chat.get("isStream") is True,
            body=body,
            output=oci_parameters(chat),
        )

    def render(self, decision: Decision, turn: Turn) -> dict[str, Any]:
        """A ``ChatResult`` with one GENERIC choice."""
        choice = {
            "index": 0,
            "message": _message(decision),
            "finishReason": decision.finish_reason,
        }
        return {
            "modelId": turn.model,
            "modelVersion": "1.0.0",
            "chatResponse": {
                "apiFormat": "GENERIC",
                "timeCreated": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "choices": [choice],
                "usage": _usage(decision),
            },
        }

    def render_stream(self, decision: Decision, turn: Turn) -> list[bytes]:
        """Data-only SSE events (see the module's docstring)."""

        def message(**fields: Any) -> bytes:
            return sse({"index": 0, "message": {"role": "ASSISTANT", **fields}})

        events = [message(content=[_text(p)]) for p in split_for_stream(decision.text or "")]
        for call in decision.tool_calls:
            first = {**_tool_call(call), "arguments": ""}
            events.append(message(toolCalls=[first]))
            events += [
                message(toolCalls=[{"type": "FUNCTION", "arguments": piece}])
                for piece in split_arguments(call.arguments_json)
            ]
        events.append(sse({"index": 0, "finishReason": decision.finish_reason}))
        options = turn.body.get("chatRequest", {}).get("streamOptions")
        if isinstance(options, dict) and options.get("isIncludeUsage") is True:
            # As StreamOptions documents it: a usage chunk "before the data: [DONE] message".
            events += [sse({"usage": _usage(decision)}), sse(b"[DONE]")]
        return events

    def render_error(self, status: int, message: str, param: str | None = None) -> dict[str, Any]:
        """``{"code", "message"}``, OCI's error body."""
        code = _ERROR_CODES.get(status, "InternalServerError" if status >= 500 else "BadRequest")
        return {"code": code, "message": message}

    def response_headers(self, status: int) -> dict[str, str]:
        """Every OCI response names its request: ``opc-request-id``."""
        return {"opc-request-id": new_id("", 32).upper()}


def _model(serving: object) -> str:
    if not isinstance(serving, dict):
        raise RequestError("servingMode is required.", param="servingMode")
    field = "endpointId" if serving.get("servingType") == "DEDICATED" else "modelId"
    model = serving.get(field)
    if not isinstance(model, str) or not model:
        raise RequestError(f"servingMode.{field} is required.", param=f"servingMode.{field}")
    return model


def _text_of(content: object) -> str:
    """The TEXT parts of a content list (images and other parts are not counted)."""
    if not isinstance(content, list):
        return ""
    return "\n".join(
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "TEXT"
        and isinstance(part.get("text"), str)
    )


def _step(message: Any) -> tuple[Step, list[str]]:
    role = message["role"]
    if role == "USER":
        return "question", []
    if role == "ASSISTANT":
        return "reply", []
    return "results", [_text_of(message.get("content"))] if role == "TOOL" else []


def _text(text: str) -> dict[str, str]:
    return {"type": "TEXT", "text": text}


def _message(decision: Decision) -> dict[str, Any]:
    # Content is null beside tool calls when there is no text, as the real API sends it.
    content = None if decision.text is None else [_text(decision.text)]
    message: dict[str, Any] = {"role": "ASSISTANT", "content": content}
    if decision.tool_calls:
        message["toolCalls"] = [_tool_call(call) for call in decision.tool_calls]
    return message


def _tool_call(call: ToolCall) -> dict[str, str]:
    return {
        "id": new_id("call_"),
        "type": "FUNCTION",
        "name": call.name,
        "arguments": call.arguments_json,
    }


def _usage(decision: Decision) -> dict[str, int]:
    return {
        "promptTokens": decision.prompt_tokens,
        "completionTokens": decision.completion_tokens,
        "totalTokens": decision.prompt_tokens + decision.completion_tokens,
    }
