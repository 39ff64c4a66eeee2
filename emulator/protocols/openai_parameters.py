"""OpenAI chat parameters beyond the messages, as the real API checks them: the emulator
answers a malformed one with OpenAI's 400 (``invalid_request_error`` naming the ``param``),
reads ``response_format`` into the turn's output format, and makes the deterministic
``logprobs`` a request with ``logprobs: true`` gets back.

Shared by the OpenAI and Azure OpenAI protocols (Azure's model service checks the same).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from emulator.protocols.base import RequestError, split_for_stream
from emulator.structured_output import OutputFormat

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority")
MAX_TOP_LOGPROBS = 20
MAX_METADATA_PAIRS = 16


def check_parameters(body: Mapping[str, Any]) -> OutputFormat | None:
    """``RequestError`` for a parameter OpenAI would refuse; the output format the request
    asks for (None: plain text)."""
    if "seed" in body and not is_int(body["seed"]):
        raise type_error("seed", "an integer", body["seed"])
    for key in ("logprobs", "parallel_tool_calls"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise type_error(key, "a boolean", body[key])
    _check_top_logprobs(body)
    for key in ("presence_penalty", "frequency_penalty"):
        check_number(body, key, -2, 2)
    _check_logit_bias(body.get("logit_bias"))
    for key, allowed in (("reasoning_effort", REASONING_EFFORTS), ("service_tier", SERVICE_TIERS)):
        value = body.get(key)
        if value is not None and value not in allowed:
            raise RequestError(
                f"Invalid value: {value!r}. Supported values are: "
                + ", ".join(repr(v) for v in allowed)
                + ".",
                param=key,
            )
    _check_metadata(body.get("metadata"))
    return output_format(body.get("response_format"))


def output_format(value: object) -> OutputFormat | None:
    """The output format of a ``response_format`` (checked as OpenAI does)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise type_error("response_format", "an object", value)
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputFormat()
    if kind != "json_schema":
        raise RequestError(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
            "'json_schema'.",
            param="response_format.type",
        )
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping):
        raise RequestError(
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
        )
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise RequestError(
            "Missing required parameter: 'response_format.json_schema.name'.",
            param="response_format.json_schema.name",
        )
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, Mapping):
        raise type_error("response_format.json_schema.schema", "an object", schema)
    return OutputFormat(schema if schema is not None else {"type": "object"})


def logprob_entries(text: str, top: int) -> list[dict[str, Any]]:
    """Deterministic ``logprobs.content`` entries for ``text``, one per streamed piece (the
    emulator's tokens), each with ``top`` alternatives, the token itself first."""
    return [_entry(piece, top) for piece in split_for_stream(text)]


def _entry(token: str, top: int) -> dict[str, Any]:
    # The more characters a token has, the less likely: fixed, so tests can assert on it.
    logprob = -round(0.05 * len(token), 4)
    alternatives = [
        {"token": token, "logprob": logprob, "bytes": list(token.encode())},
        *(
            {"token": f"{token}{n}", "logprob": logprob - n, "bytes": list(f"{token}{n}".encode())}
            for n in range(1, top)
        ),
    ]
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": alternatives[:top],
    }


def _check_top_logprobs(body: Mapping[str, Any]) -> None:
    top = body.get("top_logprobs")
    if top is None:
        return
    if not is_int(top):
        raise type_error("top_logprobs", "an integer", top)
    if not 0 <= top <= MAX_TOP_LOGPROBS:
        raise RequestError(
            f"Invalid 'top_logprobs': integer out of range. Expected a value between 0 and "
            f"{MAX_TOP_LOGPROBS}, but got {top} instead.",
            param="top_logprobs",
        )
    if body.get("logprobs") is not True:
        raise RequestError(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is given.",
            param="top_logprobs",
        )


def check_number(body: Mapping[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise type_error(key, "a number", value)
    if not low <= value <= high:
        raise RequestError(
            f"Invalid '{key}': number out of range. Expected a value between {low} and "
            f"{high}, but got {value} instead.",
            param=key,
        )


def _check_logit_bias(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise type_error("logit_bias", "an object", value)
    for token, bias in value.items():
        if not str(token).isdigit():
            raise RequestError(
                f"Invalid key in 'logit_bias': {token}. Keys must be token ids.",
                param="logit_bias",
            )
        if not is_int(bias) or not -100 <= bias <= 100:
            raise RequestError(
                f"Invalid value for 'logit_bias': {bias!r}. Values must be integers "
                "between -100 and 100.",
                param="logit_bias",
            )


def _check_metadata(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise type_error("metadata", "an object", value)
    if len(value) > MAX_METADATA_PAIRS:
        raise RequestError(
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{MAX_METADATA_PAIRS} properties, but got {len(value)} instead.",
            param="metadata",
        )
    for key, item in value.items():
        if not isinstance(item, str):
            raise type_error(f"metadata.{key}", "a string", item)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def type_error(param: str, expected: str, got: object) -> RequestError:
    kind = {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}
    return RequestError(
        f"Invalid type for '{param}': expected {expected}, but got "
        f"{kind.get(type(got), 'a ' + type(got).__name__)} instead.",
        param=param,
    )
