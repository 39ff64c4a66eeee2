"""Building the tools of a process from the settings, once, at start-up.

The API process lists and validates tools: ``build_tool_registry(settings)`` needs neither
Redis nor an HTTP client. A worker runs them: ``ToolBox.build(settings, redis)`` adds the
shared HTTP client, the Redis-backed circuit breaker and the executor.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from gateway.settings import Settings
from tools.circuit import ServiceCircuit
from tools.definitions import load_tools
from tools.downstream import PROBE_LEASE_MARGIN_SECONDS, DownstreamClient
from tools.executor import ToolExecutor
from tools.registry import ToolRegistry


def service_urls(settings: Settings) -> dict[str, str]:
    """The built-in downstream services and their base URLs."""
    return {"semantic_search": settings.semantic_search_url, "ai_agents": settings.ai_agents_url}


def build_tool_registry(settings: Settings, http: DownstreamClient | None = None) -> ToolRegistry:
    """The tools of ``settings.tools_file`` (none if unset). Without ``http`` the registry
    lists and validates; its HTTP tools report ``tool_unavailable`` if run."""
    if settings.tools_file is None:
        return ToolRegistry()
    return load_tools(settings.tools_file, service_urls(settings), http)


@dataclass(slots=True)
class ToolBox:
    """Everything a worker process needs to run tools; ``close`` it at shutdown."""

    registry: ToolRegistry
    executor: ToolExecutor
    http: DownstreamClient
    circuit: ServiceCircuit

    @classmethod
    def build(cls, settings: Settings, redis: Redis) -> ToolBox:
        circuit = ServiceCircuit(
            redis,
            failure_threshold=settings.tool_circuit_failure_threshold,
            reset_seconds=settings.tool_circuit_reset_seconds,
            probe_lease_seconds=settings.tool_timeout_seconds + PROBE_LEASE_MARGIN_SECONDS,
        )
        http = DownstreamClient(
            timeout_seconds=settings.tool_timeout_seconds,
            max_attempts=settings.tool_max_attempts,
            backoff_seconds=settings.tool_retry_backoff_seconds,
            circuit=circuit,
        )
        try:
            registry = build_tool_registry(settings, http)
        except ValueError:
            http.close()
            raise
        executor = ToolExecutor(
            registry,
            max_parallel=settings.tool_max_parallel,
            timeout_seconds=settings.tool_timeout_seconds,
        )
        return cls(registry, executor, http, circuit)

    def close(self) -> None:
        self.executor.close()
        self.http.close()
