"""Which OpenAI chat parameters each provider type honours, and how: the one table the
request check (``check_parameters``) and the documentation (``docs/parameters.md``,
written by ``python -m providers.parameters --write``) both read, so they cannot drift.

A parameter a request uses is either carried to the vendor (natively, or emulated with
another of its features), kept by the gateway when the vendor has no such field and the
parameter does not change the answer (``user``, ``metadata``: they stay on the job's
record), or refused with a 400 naming the parameter and the instance — never dropped.
Because the router only picks instances that accept a request, a refusal by the first
choice sends the request to a fallback that can honour it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from gateway.errors import CapabilityMissing
from providers.types import ChatRequest


class Support(StrEnum):
    NATIVE = "native"
    EMULATED = "emulated"
    GATEWAY = "gateway"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Parameter:
    """One row of the table: ``param`` is the request field an error names; ``used`` tells
    whether a request uses this row."""

    param: str
    used: Callable[[ChatRequest], bool]


_BUILTIN_CHOICES = ("auto", "none", "required")

PARAMETERS: Mapping[str, Parameter] = MappingProxyType(
    {
        "temperature": Parameter("temperature", lambda r: r.temperature is not None),
        "top_p": Parameter("top_p", lambda r: r.top_p is not None),
        "max_tokens": Parameter("max_tokens", lambda r: r.max_tokens is not None),
        "stop": Parameter("stop", lambda r: bool(r.stop)),
        "tool_choice: none": Parameter("tool_choice", lambda r: r.tool_choice == "none"),
        "tool_choice: required": Parameter("tool_choice", lambda r: r.tool_choice == "required"),
        "tool_choice: a function": Parameter(
            "tool_choice",
            lambda r: r.tool_choice is not None and r.tool_choice not in _BUILTIN_CHOICES,
        ),
        "parallel_tool_calls": Parameter(
            "parallel_tool_calls", lambda r: r.parallel_tool_calls is not None
        ),
        "response_format: json_object": Parameter(
            "response_format",
            lambda r: r.response_format is not None and r.response_format.type == "json_object",
        ),
        "response_format: json_schema": Parameter(
            "response_format",
            lambda r: r.response_format is not None and r.response_format.type == "json_schema",
        ),
        "seed": Parameter("seed", lambda r: r.seed is not None),
        "logprobs": Parameter("logprobs", lambda r: r.logprobs),
        "top_logprobs": Parameter("top_logprobs", lambda r: r.top_logprobs is not None),
        "presence_penalty": Parameter("presence_penalty", lambda r: r.presence_penalty is not None),
        "frequency_penalty": Parameter(
            "frequency_penalty", lambda r: r.frequency_penalty is not None
        ),
        "logit_bias": Parameter("logit_bias", lambda r: bool(r.logit_bias)),
        "reasoning_effort": Parameter("reasoning_effort", lambda r: r.reasoning_effort is not None),
        "service_tier": Parameter("service_tier", lambda r: r.service_tier is not None),
        "user": Parameter("user", lambda r: r.user is not None),
        "metadata": Parameter("metadata", lambda r: bool(r.metadata)),
        "unknown parameters": Parameter("", lambda r: bool(r.passthrough)),
    }
)

N, E, G, R = Support.NATIVE, Support.EMULATED, Support.GATEWAY, Support.REFUSED

# One block per provider type; a row left out is refused. Each "native" or "emulated"
# cell has a test that the emulator received it in the vendor's shape.
_OPENAI: Mapping[str, Support] = {name: N for name in PARAMETERS}

# Anthropic: the SDK speaks API version 2026-10-21, which rejects temperature, top_p and
# top_k on every model, so they are refused (see WHY).
_ANTHROPIC: Mapping[str, Support] = {
    "max_tokens": N,
    "stop": N,
    "tool_choice: none": N,
    "tool_choice: required": N,
    "tool_choice: a function": N,
    "parallel_tool_calls": N,
    "response_format: json_object": E,
    "response_format: json_schema": N,
    "reasoning_effort": N,
    "service_tier": N,
    "user": N,
    "metadata": G,
}

_BEDROCK: Mapping[str, Support] = {
    "temperature": N,
    "top_p": N,
    "max_tokens": N,
    "stop": N,
    "tool_choice: none": E,
    "tool_choice: required": N,
    "tool_choice: a function": N,
    "response_format: json_object": E,
    "response_format: json_schema": N,
    "reasoning_effort": N,
    "service_tier": N,
    "user": G,
    "metadata": N,
}

_VERTEX: Mapping[str, Support] = {
    "temperature": N,
    "top_p": N,
    "max_tokens": N,
    "stop": N,
    "tool_choice: none": N,
    "tool_choice: required": N,
    "tool_choice: a function": N,
    "response_format: json_object": N,
    "response_format: json_schema": N,
    "seed": N,
    "presence_penalty": N,
    "frequency_penalty": N,
    "reasoning_effort": N,
    "user": G,
    "metadata": N,
}

# Why a refused cell is refused, where the bare "cannot honour" would puzzle.
WHY: Mapping[tuple[str, str], str] = {
    ("anthropic", "temperature"): "Anthropic's API (version 2026-10-21) rejects "
    "sampling parameters on every model",
    ("anthropic", "top_p"): "Anthropic's API (version 2026-10-21) rejects "
    "sampling parameters on every model",
}

_OLLAMA: Mapping[str, Support] = {
    "temperature": N,
    "top_p": N,
    "max_tokens": N,
    "stop": N,
    "tool_choice: none": E,
    "response_format: json_object": N,
    "response_format: json_schema": N,
    "seed": N,
    "logprobs": N,
    "top_logprobs": N,
    "presence_penalty": N,
    "frequency_penalty": N,
    "reasoning_effort": N,
    "user": G,
    "metadata": G,
}

_WATSONX: Mapping[str, Support] = {
    "temperature": N,
    "top_p": N,
    "max_tokens": N,
    "stop": N,
    "tool_choice: none": N,
    "tool_choice: required": N,
    "tool_choice: a function": N,
    "response_format: json_object": N,
    "response_format: json_schema": N,
    "seed": N,
    "presence_penalty": N,
    "frequency_penalty": N,
    "logit_bias": N,
    "reasoning_effort": N,
    "user": G,
    "metadata": G,
}

_OCI: Mapping[str, Support] = {
    "temperature": N,
    "top_p": N,
    "max_tokens": N,
    "stop": N,
    "tool_choice: none": N,
    "tool_choice: required": N,
    "tool_choice: a function": N,
    "parallel_tool_calls": N,
    "response_format: json_object": N,
    "response_format: json_schema": N,
    "seed": N,
    "presence_penalty": N,
    "frequency_penalty": N,
    "logit_bias": N,
    "reasoning_effort": N,
    "user": G,
    "metadata": N,
}

SUPPORT: Mapping[str, Mapping[str, Support]] = MappingProxyType(
    {
        "openai": _OPENAI,
        "azure_openai": _OPENAI,
        "anthropic": _ANTHROPIC,
        "bedrock": _BEDROCK,
        "vertex": _VERTEX,
        "ollama": _OLLAMA,
        "watsonx": _WATSONX,
        "oci": _OCI,
    }
)


def support(provider_type: str, row: str) -> Support:
    """How ``provider_type`` honours the parameter of ``row`` (a key of ``PARAMETERS``)."""
    return SUPPORT.get(provider_type, {}).get(row, Support.REFUSED)


def check_parameters(provider_type: str, where: str, request: ChatRequest) -> None:
    """``CapabilityMissing`` (400) naming the first parameter ``request`` uses that
    ``provider_type`` cannot honour; ``where`` names the instance."""
    for row, parameter in PARAMETERS.items():
        if not parameter.used(request) or support(provider_type, row) is not Support.REFUSED:
            continue
        if not parameter.param:
            names = ", ".join(sorted(request.passthrough))
            raise CapabilityMissing(
                f"{where} does not take the unknown parameters passed through ({names}); "
                "only OpenAI-type providers do",
                param=sorted(request.passthrough)[0],
            )
        what = row if ":" in row else parameter.param
        why = WHY.get((provider_type, row))
        reason = f": {why}" if why else ""
        raise CapabilityMissing(f"{where} cannot honour {what}{reason}", param=parameter.param)


_LEGEND = {
    Support.NATIVE: "sent in the vendor's own field",
    Support.EMULATED: "carried with another of the vendor's features",
    Support.GATEWAY: "kept on the job's record, not sent (the vendor has no such field)",
    Support.REFUSED: "400 naming the parameter and the instance",
}


def markdown_table() -> str:
    """The parameter x provider-type table for ``docs/parameters.md``."""
    types = list(SUPPORT)
    lines = [
        "| parameter | " + " | ".join(f"`{t}`" for t in types) + " |",
        "|---|" + "---|" * len(types),
    ]
    for row in PARAMETERS:
        cells = " | ".join(support(t, row).value for t in types)
        lines.append(f"| {row} | {cells} |")
    legend = "\n".join(f"- **{s.value}**: {meaning}" for s, meaning in _LEGEND.items())
    return "\n".join(lines) + "\n\n" + legend + "\n"


DOC = Path(__file__).resolve().parent.parent / "docs" / "parameters.md"
_BEGIN = "<!-- parameter table: python -m providers.parameters --write -->"
_END = "<!-- end of parameter table -->"


def rendered_doc(text: str) -> str:
    """``text`` (the page) with the table between its markers replaced by the current one."""
    head, sep, rest = text.partition(_BEGIN)
    _, sep2, tail = rest.partition(_END)
    if not sep or not sep2:
        raise ValueError(f"{DOC.name} lacks the table markers")
    return f"{head}{_BEGIN}\n{markdown_table()}{_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC.name}'s table")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = rendered_doc(current)
    if args.write:
        DOC.write_text(wanted)
        return 0
    if current != wanted:
        print(f"{DOC} is out of date: python -m providers.parameters --write", file=sys.stderr)
        return 1
    print(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
