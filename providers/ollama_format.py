"""Ollama's native chat API (``POST /api/chat``) to and from the neutral types, and model
discovery (``GET /api/tags``).

Documented at https://github.com/ollama/ollama/blob/main/docs/api.md. Where it differs from
OpenAI's format: images are bare base64 strings in a message's ``images`` (no URLs), tool
call ``arguments`` are a JSON object, tool calls carry no ids (we make them up; a tool result
names its tool in ``tool_name``), there is no ``tool_choice``, and the sampling parameters
live in ``options`` (``num_predict`` is the output limit, ``seed`` and the penalties sit
beside it). ``response_format`` is ``format`` (``"json"``, or the JSON schema itself);
``reasoning_effort`` is ``think`` (``false`` for "none", else the level); ``logprobs`` and
``top_logprobs`` are top-level and the answer's ``logprobs`` list holds OpenAI's token
entries (``token``, ``logprob``, ``bytes``, ``top_logprobs``), per line when streamed.
Ollama reports ``done_reason: "stop"`` after tool calls too. No SDK import: the API
process runs the check per request.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import b64decode
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from gateway.errors import InvalidRequest
from providers.json_fields import tool_arguments
from providers.streaming import logprobs_object
from providers.types import (
    ChatRequest,
    ChatResponse,
    DocumentPart,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolDefinition,
    Usage,
)
from providers.upstream_errors import malformed_reply

_DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,(?P<data>.*)", re.S)

# The levels ``think`` takes as a string (models that think in levels, e.g. gpt-oss);
# OpenAI's "none" is ``think: false``. "minimal" and "xhigh" have no Ollama counterpart.
_THINK_LEVELS = ("low", "medium", "high")

CallIdFactory = Callable[[int], str]
"""Makes the id of the n-th tool call of a response (Ollama sends none)."""


class OllamaDiscoveryFailed(Exception):
    """``GET /api/tags`` failed; the message names the URL and the problem, never a body."""


def chat_request_to_ollama(req: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    """The ``/api/chat`` body, streamed (NDJSON) or not. ``InvalidRequest`` for what Ollama
    cannot carry: image URLs, a forced tool choice, tool-call arguments that are not a JSON
    object."""
    body: dict[str, Any] = {"model": req.model, "messages": _messages(req), "stream": stream}
    if req.tool_choice not in (None, "auto", "none"):
        # Ollama has no tool_choice: a forced call cannot be honoured, so do not pretend.
        raise InvalidRequest(
            "tool_choice: Ollama cannot force a tool call; use 'auto' or 'none'",
            param="tool_choice",
        )
    if req.tools and req.tool_choice != "none":  # "none": the model cannot call what it lacks
        body["tools"] = [_tool(t) for t in req.tools]
    options: dict[str, Any] = {
        "num_predict": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stop": list(req.stop) or None,
        "seed": req.seed,
        "presence_penalty": req.presence_penalty,
        "frequency_penalty": req.frequency_penalty,
    }
    options = {k: v for k, v in options.items() if v is not None}
    if options:
        body["options"] = options
    if req.response_format is not None:
        body["format"] = _format(req.response_format)
    if req.reasoning_effort is not None:
        body["think"] = _think(req.reasoning_effort)
    if req.logprobs:
        body["logprobs"] = True
        if req.top_logprobs is not None:
            body["top_logprobs"] = req.top_logprobs
    return body


def _format(fmt: ResponseFormat) -> str | dict[str, Any]:
    """``format``: ``"json"`` for JSON mode (or a schema-less json_schema), else the schema."""
    return "json" if fmt.schema is None else dict(fmt.schema)


def _think(effort: str) -> bool | str:
    if effort == "none":
        return False
    if effort not in _THINK_LEVELS:
        raise InvalidRequest(
            f"reasoning_effort: Ollama's think takes low, medium, high or none, not {effort!r}",
            param="reasoning_effort",
        )
    return effort


def check_ollama_request(req: ChatRequest) -> None:
    """Refuse what Ollama's chat API cannot carry; the mapping is pure, so running it is the
    check."""
    chat_request_to_ollama(req)


def _messages(req: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Tool results name their tool, not the call: remember each call id's tool name.
    call_names: dict[str, str] = {}
    for i, m in enumerate(req.messages):
        param = f"messages[{i}]"
        for j, part in enumerate(m.content):
            if isinstance(part, DocumentPart):  # m.text would drop it silently
                where = f"{param}.content[{j}]"
                raise InvalidRequest(f"{where}: Ollama does not accept documents", param=where)
        wire: dict[str, Any] = {"role": m.role, "content": m.text}
        images = [_image(p.url, f"{param}.content[{j}]") for j, p in _images(m)]
        if images:
            wire["images"] = images
        if m.tool_calls:
            wire["tool_calls"] = [
                _tool_call(c, f"{param}.tool_calls[{j}]") for j, c in enumerate(m.tool_calls)
            ]
            call_names.update({c.id: c.name for c in m.tool_calls})
        if m.role == "tool":
            name = call_names.get(m.tool_call_id or "") or m.name
            if name:  # optional on the wire; without it the model matches by order
                wire["tool_name"] = name
        out.append(wire)
    return out


def _images(m: Message) -> list[tuple[int, ImagePart]]:
    return [(j, p) for j, p in enumerate(m.content) if isinstance(p, ImagePart)]


def _image(url: str, param: str) -> str:
    """The bare base64 data of a ``data:image/...;base64,`` URL."""
    param = f"{param}.image_url.url"
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise InvalidRequest(
            f"{param}: Ollama only accepts inline images (data:image/...;base64,...), not URLs",
            param=param,
        )
    data = match["data"]
    try:
        b64decode(data, validate=True)
    except binascii.Error:
        raise InvalidRequest(f"{param}: the image data is not valid base64", param=param) from None
    return data


def _tool_call(call: ToolCall, param: str) -> dict[str, Any]:
    param = f"{param}.function.arguments"
    arguments = tool_arguments(call.arguments, param)
    return {"function": {"name": call.name, "arguments": arguments}}


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    # The schema travels untouched, nested properties and all.
    function["parameters"] = dict(tool.parameters) or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _numbered(index: int) -> str:
    return f"call_{index}"


def chat_response_from_ollama(
    body: Mapping[str, Any], *, call_id: CallIdFactory = _numbered
) -> ChatResponse:
    """Parse a non-streamed ``/api/chat`` answer. A call without an id gets ``call_id(n)``."""
    message = body.get("message")
    if not isinstance(message, Mapping):
        raise malformed_reply("Ollama chat response: no message object")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise malformed_reply("Ollama chat response: content is not a string")
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise malformed_reply("Ollama chat response: tool_calls is not a list")
    calls = tuple(call_from_ollama(raw, n, call_id) for n, raw in enumerate(raw_calls))
    model = body.get("model")
    return ChatResponse(
        message=Message("assistant", (TextPart(content),) if content else (), calls),
        finish_reason=finish_reason_from_ollama(body.get("done_reason"), bool(calls)),
        usage=ollama_usage(body),
        model=model if isinstance(model, str) else "",
        logprobs=logprobs_object(logprobs_from_ollama(body) or None),
    )


def logprobs_from_ollama(chunk: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The token entries of an answer (or of one streamed line): Ollama's ``logprobs`` list
    has OpenAI's entry shape; anything else is none."""
    entries = chunk.get("logprobs")
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, Mapping)]


def finish_reason_from_ollama(done_reason: object, has_tool_calls: bool) -> FinishReason:
    """The neutral finish reason of a final object's ``done_reason``: Ollama says "stop"
    after tool calls too, so calls decide; only "length" is a cut-off answer."""
    if has_tool_calls:
        return "tool_calls"
    return "length" if done_reason == "length" else "stop"


def ollama_usage(final: object) -> Usage:
    """The token counts of a final object (``done: true``)."""
    return Usage.counted(final, ("prompt_eval_count",), ("eval_count",))


def call_from_ollama(raw: object, n: int, call_id: CallIdFactory) -> ToolCall:
    """The ``n``-th tool call of an answer (``{"function": {"name", "arguments"}}``); one
    without an id gets ``call_id(n)``."""
    function = raw.get("function") if isinstance(raw, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise malformed_reply("Ollama chat response: a tool call has no function name")
    arguments = function.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        raise malformed_reply("Ollama chat response: tool arguments are not an object")
    given = raw.get("id") if isinstance(raw, Mapping) else None  # newer servers send one
    return ToolCall(
        id=given if isinstance(given, str) and given else call_id(n),
        name=function["name"],
        arguments=json.dumps(arguments),
    )


def list_ollama_models(http: httpx.Client, base_url: str, timeout: float) -> list[str]:
    """The model names the Ollama server at ``base_url`` has pulled, as ``GET /api/tags``
    lists them (tagged, e.g. ``llama3.2:latest``), in its order, without duplicates;
    asked with ``http``, a client the caller keeps.

    Raises ``OllamaDiscoveryFailed`` when the server cannot be reached or answers anything
    but a 200 with the documented ``{"models": [{"name", "model", ...}]}``.
    """
    url = f"{base_url.rstrip('/')}/api/tags"
    try:
        response = http.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise OllamaDiscoveryFailed(f"cannot list Ollama models at {url}: {exc!r}") from None
    if response.status_code != 200:
        problem = f"HTTP {response.status_code}"
        raise OllamaDiscoveryFailed(f"cannot list Ollama models at {url}: {problem}")
    try:
        models = response.json().get("models")
    except (ValueError, AttributeError):
        models = None
    if not isinstance(models, list):
        raise OllamaDiscoveryFailed(f"{url} did not answer with a models list")
    names: dict[str, None] = {}
    for entry in models:
        name = (entry.get("name") or entry.get("model")) if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise OllamaDiscoveryFailed(f"{url} listed a model without a name")
        names[name] = None
    return list(names)
