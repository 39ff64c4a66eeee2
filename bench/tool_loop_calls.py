"""What the tool-loop bench sends: a one-round tool loop as a request to the gateway, and
the same loop done by hand (``DirectLoop``), the wire calls a client without the gateway
would make: the model's turn 0, its tool calls on the stand-in, turn 1 with the results.

The emulated model is scripted by a directive in the user message (``turns``: call the
tools on turn 0, answer on turn 1), so both paths see exactly the same model behaviour.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from phases import CHAT_PATH, MODELS
from stack import Target

from emulator.directives import directive

MODEL = MODELS[0]
ToolCallSpec = dict[str, Any]  # {"name": ..., "arguments": {...}}, as a directive takes it

SEARCH_CALL: ToolCallSpec = {
    "name": "search_corpus",
    "arguments": {"query": "tool loops results", "top_k": 2},
}
_CODE = "def total(xs):\n    return sum(x for x in xs)\n"
# One call per kind of stand-in route: search, chunk fetch, two agents.
PARALLEL_CALLS: tuple[ToolCallSpec, ...] = (
    SEARCH_CALL,
    {"name": "get_chunk", "arguments": {"chunk_id": "chunk-001"}},
    {"name": "review_code", "arguments": {"code": _CODE, "language": "python"}},
    {"name": "analyze_architecture", "arguments": {"code": _CODE}},
)
# The stand-in route of each agent tool (config/tools.yaml: ``body: input``).
_AGENT_ROUTES = {
    "review_code": "code-review",
    "analyze_architecture": "architecture",
    "generate_documentation": "doc-generate",
}


def loop_request(calls: Sequence[ToolCallSpec]) -> dict[str, Any]:
    """A chat request whose model calls ``calls`` at once on turn 0 and answers on turn 1;
    its ``tools`` name the gateway tools only, as a client of the gateway may."""
    script = directive(turns=[{"tool_calls": list(calls)}, {}])
    names = dict.fromkeys(call["name"] for call in calls)
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Answer from the corpus. {script}"}],
        "tools": [{"type": "function", "function": {"name": name}} for name in names],
    }


def tool_definitions(target: Target) -> dict[str, dict[str, Any]]:
    """The gateway's registered tools by name (``GET /v1/tools``)."""
    response = httpx.get(f"{target.api_url}/v1/tools", headers=target.auth, timeout=30)
    response.raise_for_status()
    return {tool["name"]: tool for tool in response.json()["data"]}


def with_definitions(
    request: Mapping[str, Any], definitions: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``request`` as the gateway sends it to the model: each tool with the registry's
    description and schema, so the direct path sends the model the same bytes."""
    tools = []
    for tool in request["tools"]:
        known = definitions[tool["function"]["name"]]
        function = {k: known[k] for k in ("name", "description", "parameters")}
        tools.append({"type": "function", "function": function})
    return {**request, "tools": tools}


class LoopError(RuntimeError):
    """The emulated model or the stand-in did not behave as the script says."""


@dataclass(frozen=True, slots=True)
class DirectLoop:
    """One tool round without the gateway. Several tool calls run at once on ``pool``, as
    the worker runs them; a single call runs inline, as three calls in sequence."""

    emulator: httpx.Client
    stand_in: httpx.Client
    request: dict[str, Any]  # with full tool definitions (``with_definitions``)
    pool: ThreadPoolExecutor

    def timed(self) -> float:
        """Seconds for the whole round; any failure raises."""
        started = time.perf_counter()
        self.run()
        return time.perf_counter() - started

    def run(self) -> dict[str, Any]:
        """The model's final answer (the turn-1 response body)."""
        messages = list(self.request["messages"])
        turn0 = self._model(messages)["choices"][0]["message"]
        calls: list[dict[str, Any]] = turn0.get("tool_calls") or []
        if not calls:
            raise LoopError("the emulator answered turn 0 without tool calls")
        if len(calls) == 1:
            outputs = [self._tool(calls[0])]
        else:
            outputs = list(self.pool.map(self._tool, calls))
        messages.append({"role": "assistant", "content": turn0.get("content"), "tool_calls": calls})
        for call, output in zip(calls, outputs, strict=True):
            # The tool message the gateway builds (ToolOutcome.as_content).
            content = json.dumps({"output": output}, ensure_ascii=False)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
        return self._model(messages)

    def _model(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.emulator.post(CHAT_PATH, json={**self.request, "messages": messages})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def _tool(self, call: Mapping[str, Any]) -> Any:
        """One call on the stand-in, routed as ``config/tools.yaml`` routes it."""
        name = call["function"]["name"]
        arguments = json.loads(call["function"]["arguments"])
        if name == "search_corpus":
            response = self.stand_in.post("/v1/search", json=arguments)
        elif name == "get_chunk":
            response = self.stand_in.get(f"/v1/chunks/{quote(arguments['chunk_id'], safe='')}")
        elif name in _AGENT_ROUTES:
            path = f"/v1/agents/{_AGENT_ROUTES[name]}/run"
            response = self.stand_in.post(path, json={"input": arguments})
        else:
            raise LoopError(f"no stand-in route for tool {name!r}")
        response.raise_for_status()
        return response.json()
