"""The heaviest requests the gateway allows, one per limit, and the audit's request that
stalled it (5,000 client tools, ~430 KB), as ``POST /v1/jobs`` bodies.

Each shape fills the body limit (``LLM_GATEWAY_MAX_BODY_BYTES``) with as much of what its
limit counts as the limits allow. The limits are this checkout's defaults
(``gateway.settings``), so the same bytes go to any stack, older ones included: that is
what makes a before/after comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.settings import Settings

MODEL = "gpt-4o-mini"
# Room left under the body limit for the envelope (type, model, idempotency key).
MARGIN_BYTES = 2048


@dataclass(frozen=True, slots=True)
class Limits:
    body_bytes: int
    messages: int
    tools: int
    schema_bytes: int
    schema_depth: int
    content_bytes: int

    @classmethod
    def defaults(cls) -> Limits:
        fields = Settings.model_fields

        def default(name: str) -> int:
            value = fields[name].default
            assert isinstance(value, int)
            return value

        return cls(
            body_bytes=default("max_body_bytes"),
            messages=default("request_max_messages"),
            tools=default("request_max_tools"),
            schema_bytes=default("request_max_schema_bytes"),
            schema_depth=default("request_max_schema_depth"),
            content_bytes=default("request_max_content_bytes"),
        )

    @property
    def budget(self) -> int:
        return self.body_bytes - MARGIN_BYTES


def _job(request: dict[str, Any]) -> dict[str, Any]:
    return {"type": "completion", "request": {"model": MODEL, **request}}


def _wide_schema(target_bytes: int, depth: int) -> dict[str, Any]:
    """An object schema of about ``target_bytes``, ``depth`` levels of JSON deep: many small
    properties, the most nodes (so the most work) a byte can carry."""
    leaf_count = max(1, target_bytes // 40)
    properties = {f"p{i:05d}": {"type": "string", "maxLength": 8} for i in range(leaf_count)}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    # Each wrapping adds two JSON levels (the schema object and its "properties").
    for _ in range(max(0, (depth - 4) // 2)):
        schema = {"type": "object", "properties": {"x": schema}}
    while len(orjson.dumps(schema)) > target_bytes and properties:
        for _ in range(max(1, len(properties) // 50)):
            properties.popitem()
    return schema


def tools_shape(limits: Limits) -> dict[str, Any]:
    """The most tools, each with a schema as large and deep as allowed, up to the body."""
    per_tool = min(limits.schema_bytes, limits.budget // limits.tools - 120)
    schema = _wide_schema(per_tool, limits.schema_depth)
    tools = [
        {"type": "function", "function": {"name": f"tool_{i:04d}", "parameters": schema}}
        for i in range(limits.tools)
    ]
    return _job({"messages": [{"role": "user", "content": "pick a tool"}], "tools": tools})


def messages_shape(limits: Limits) -> dict[str, Any]:
    """The most messages, their text filling the body (within the content limit)."""
    room = min(limits.budget, limits.content_bytes) // limits.messages - 40
    text = "x" * max(1, room)
    roles = ("user", "assistant")
    messages = [{"role": roles[i % 2], "content": text} for i in range(limits.messages - 1)]
    return _job({"messages": [*messages, {"role": "user", "content": text}]})


def content_shape(limits: Limits) -> dict[str, Any]:
    """One message as long as the body and the content limit allow."""
    text = "x" * (min(limits.budget, limits.content_bytes) - 200)
    return _job({"messages": [{"role": "user", "content": text}]})


def audit_shape(_: Limits) -> dict[str, Any]:
    """The audit's request: 5,000 small client tools (~430 KB). Over the tool limit now."""
    tools = [
        {
            "type": "function",
            "function": {"name": f"tool_{i:04d}", "parameters": {"type": "object"}},
        }
        for i in range(5000)
    ]
    return _job({"messages": [{"role": "user", "content": "hi"}], "tools": tools})


SHAPES: dict[str, Callable[[Limits], dict[str, Any]]] = {
    "tools": tools_shape,
    "messages": messages_shape,
    "content": content_shape,
    "audit": audit_shape,
}


def body_for_client(shape: dict[str, Any], client: int, run: str | None) -> bytes:
    """The shape as one client's bytes. With a ``run``, each client repeats one idempotency
    key: the first request stores the job, every repeat is validated, routed and
    fingerprinted in full and answered with the stored record (which is read back and
    decoded), and Redis does not fill with copies. Without one, every request is a new
    job."""
    if run is None:
        return orjson.dumps(shape)
    return orjson.dumps({**shape, "idempotency_key": f"health-bench-{run}-{client}"})
