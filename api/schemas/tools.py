"""``/v1/tools``: the execution body, the tool listing with service circuits, a result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel


class ToolExecute(RequestModel):
    """``POST /v1/tools/execute``: the arguments are checked against the tool's schema."""

    name: str = Field(min_length=1, max_length=128)
    arguments: dict[str, Any] = Field(default_factory=dict)


class Tool(ResponseModel):
    """A registered tool; ``parameters`` is its arguments' JSON Schema."""

    object: Literal["tool"]
    name: str
    description: str
    parameters: dict[str, Any]
    service: str | None


class ServiceCircuit(ResponseModel):
    """A downstream service's circuit breaker as observed now."""

    service: str
    state: Literal["closed", "open", "half_open"]
    failures: int
    probe_in_seconds: float


class ToolList(ResponseModel):
    """``services``: each downstream service's circuit, null when Redis cannot say."""

    object: Literal["list"]
    data: list[Tool]
    services: dict[str, ServiceCircuit | None]


class ToolResult(ResponseModel):
    """``POST /v1/tools/execute``'s answer; the job's id is also in a header."""

    object: Literal["tool.result"]
    name: str
    output: Any
    seconds: float | None
    job_id: str
