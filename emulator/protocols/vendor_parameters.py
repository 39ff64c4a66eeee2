"""The OpenAI-like parameters of Ollama, watsonx.ai and OCI chat, in each vendor's own
shape: checked as the vendor checks them (a ``RequestError`` in its protocol's error
shape) and read into the turn's output format, so a requested JSON schema gets a reply
that conforms.

- Ollama ``/api/chat``: ``format`` (``"json"`` or a JSON schema), ``think`` (a boolean
  or a level), top-level ``logprobs``/``top_logprobs``, and ``options`` whose types the
  Go server enforces (``option "seed" must be of type integer``).
- watsonx.ai text chat: OpenAI's names (``seed``, penalties, ``logit_bias``,
  ``reasoning_effort``, ``response_format`` with ``json_schema.name``).
- OCI GENERIC: camelCase (``seed``, ``presencePenalty``, ``frequencyPenalty``,
  ``logitBias``, ``isParallelToolCalls``, ``metadata``, ``reasoningEffort`` in upper case,
  ``responseFormat`` ``JSON_OBJECT``/``JSON_SCHEMA`` with ``jsonSchema.name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.protocols.base import RequestError
from emulator.protocols.openai_parameters import (
    MAX_TOP_LOGPROBS,
    check_number,
    is_int,
    type_error,
)
from emulator.structured_output import OutputFormat

_OLLAMA_INT_OPTIONS = ("seed", "num_predict", "top_k", "num_ctx")
_OLLAMA_FLOAT_OPTIONS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_WATSONX_EFFORTS = ("low", "medium", "high")
_OCI_EFFORTS = ("NONE", "MINIMAL", "LOW", "MEDIUM", "HIGH")
# A response format's kinds: plain text, any JSON object, JSON matching a schema.
_KINDS = ("text", "json_object", "json_schema")
_OCI_KINDS = ("TEXT", "JSON_OBJECT", "JSON_SCHEMA")


def ollama_parameters(body: Mapping[str, Any]) -> OutputFormat | None:
    """Check an ``/api/chat`` body's options, ``think`` and ``logprobs``; its ``format``."""
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise RequestError("options must be an object")
    for key in _OLLAMA_INT_OPTIONS:
        if key in options and not is_int(options[key]):
            raise RequestError(f'option "{key}" must be of type integer')
    for key in _OLLAMA_FLOAT_OPTIONS:
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise RequestError(f'option "{key}" must be of type float32')
    think = body.get("think")
    if think is not None and not isinstance(think, bool | str):
        raise RequestError("think must be a boolean or a string")
    if body.get("logprobs") is not None and not isinstance(body["logprobs"], bool):
        raise RequestError("logprobs must be a boolean")
    top = body.get("top_logprobs")
    if top is not None and (not is_int(top) or not 0 <= top <= MAX_TOP_LOGPROBS):
        raise RequestError(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}")
    fmt = body.get("format")
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return OutputFormat()
    if isinstance(fmt, Mapping):
        return OutputFormat(fmt)
    raise RequestError(f'invalid format: "{fmt}"; expected "json" or a JSON schema')


def watsonx_parameters(body: Mapping[str, Any]) -> OutputFormat | None:
    """Check a text-chat body's sampling fields; its ``response_format``."""
    if "seed" in body and not is_int(body["seed"]):
        raise type_error("seed", "an integer", body["seed"])
    for key in ("presence_penalty", "frequency_penalty"):
        check_number(body, key, -2, 2)
    bias = body.get("logit_bias")
    if bias is not None and not isinstance(bias, Mapping):
        raise type_error("logit_bias", "an object", bias)
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in _WATSONX_EFFORTS:
        raise RequestError(
            f"reasoning_effort must be one of {', '.join(_WATSONX_EFFORTS)}",
            param="reasoning_effort",
        )
    return _json_format(body.get("response_format"), "response_format", "json_schema", _KINDS)


def oci_parameters(chat: Mapping[str, Any]) -> OutputFormat | None:
    """Check a GENERIC ``chatRequest``'s sampling fields; its ``responseFormat``."""
    if "seed" in chat and not is_int(chat["seed"]):
        raise RequestError("seed must be an integer.", param="chatRequest.seed")
    for key in ("presencePenalty", "frequencyPenalty"):
        check_number(chat, key, -2, 2)
    for key in ("logitBias", "metadata"):
        if chat.get(key) is not None and not isinstance(chat[key], Mapping):
            raise RequestError(f"{key} must be an object.", param=f"chatRequest.{key}")
    if chat.get("isParallelToolCalls") is not None and not isinstance(
        chat["isParallelToolCalls"], bool
    ):
        raise RequestError(
            "isParallelToolCalls must be a boolean.", param="chatRequest.isParallelToolCalls"
        )
    effort = chat.get("reasoningEffort")
    if effort is not None and effort not in _OCI_EFFORTS:
        raise RequestError(
            f"reasoningEffort must be one of {', '.join(_OCI_EFFORTS)}.",
            param="chatRequest.reasoningEffort",
        )
    fmt = chat.get("responseFormat")
    return _json_format(fmt, "chatRequest.responseFormat", "jsonSchema", _OCI_KINDS)


def _json_format(
    value: object, param: str, schema_key: str, names: tuple[str, str, str]
) -> OutputFormat | None:
    """An OpenAI-like response format: ``type`` one of ``names`` (text, JSON object, JSON
    schema) and, for a schema, ``{schema_key: {"name", "schema"}}``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RequestError(f"{param} must be an object.", param=param)
    kind = value.get("type")
    if kind == names[0]:
        return None
    if kind == names[1]:
        return OutputFormat()
    if kind != names[2]:
        where = f"{param}.type"
        raise RequestError(f"{where} must be one of {', '.join(names)}.", param=where)
    spec = value.get(schema_key)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not spec["name"]:
        where = f"{param}.{schema_key}.name"
        raise RequestError(f"{where} is required.", param=where)
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, Mapping):
        where = f"{param}.{schema_key}.schema"
        raise RequestError(f"{where} must be an object.", param=where)
    return OutputFormat(schema if schema is not None else {"type": "object"})
