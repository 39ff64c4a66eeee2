"""Fallbacks: where a completion goes when its instance answers 429, fails, times out or
has an open circuit.

A job's candidates are its routed instance (the primary) and then the primary's
``fallbacks`` in order, each an instance (same model) or a model (routed as a request for
it would be). Untried candidates are used at once, without backoff; once every candidate
has been tried, the job backs off and starts again from the primary. The job record's
``route`` field keeps where the job is and what this round has tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from providers.config import ProvidersConfig
from providers.registry import check_request
from providers.router import ModelRouter
from providers.types import ChatRequest
from tasks.records import JobRecord


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a job can run: an instance and the gateway model name to ask it for."""

    instance: str
    model: str


@dataclass(frozen=True, slots=True)
class RouteState:
    """Where a job runs now, and which instances it has tried since its last backoff."""

    primary: Candidate
    current: Candidate
    tried: tuple[str, ...]

    @classmethod
    def of(cls, job: JobRecord) -> RouteState:
        route: dict[str, Any] = job.route or {}
        primary = Candidate(route.get("primary", job.provider or ""), job.model or "")
        current = Candidate(
            route.get("instance", primary.instance), route.get("model", primary.model)
        )
        return cls(primary, current, tuple(route.get("tried", ())))

    def to_record(self) -> dict[str, Any]:
        return {
            "primary": self.primary.instance,
            "instance": self.current.instance,
            "model": self.current.model,
            "tried": list(self.tried),
        }

    def moved_to(self, candidate: Candidate) -> RouteState:
        """Tried the current candidate; go to ``candidate`` now."""
        return RouteState(self.primary, candidate, (*self.tried, self.current.instance))

    def restarted(self) -> RouteState:
        """Every candidate tried: back to the primary for the next round."""
        return RouteState(self.primary, self.primary, ())


class FallbackPlanner:
    """Resolves an instance's fallbacks and picks the next untried one."""

    def __init__(self, config: ProvidersConfig) -> None:
        self._config = config
        self._router = ModelRouter(config)

    def candidates(self, primary: Candidate) -> list[Candidate]:
        inst = self._config.instances.get(primary.instance)
        if inst is None:
            return [primary]
        out = [primary]
        for fallback in inst.fallbacks:
            if fallback in self._config.instances:
                out.append(Candidate(fallback, primary.model))
            else:
                out.append(Candidate(self._router.route(fallback).instance.name, fallback))
        return out

    def next_untried(self, state: RouteState, request: ChatRequest) -> Candidate | None:
        """The first candidate not yet tried in this round that can serve ``request``."""
        tried = {*state.tried, state.current.instance}
        for candidate in self.candidates(state.primary):
            if candidate.instance in tried:
                continue
            inst = self._config.instances[candidate.instance]
            try:
                check_request(inst.type, request)
            except GatewayError:
                continue  # lacks a capability the request needs
            return candidate
        return None
