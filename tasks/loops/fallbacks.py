"""Fallbacks: where a completion goes when its instance answers 429, fails, times out or
has an open circuit.

A job's candidates are its routed instance (the primary), then the primary's ``fallbacks``
in order, each an instance (same model) or a model (routed as a request for it would be),
then every other instance serving the same model, in routing preference order. A request's
``provider`` hint keeps all of them to that instance or provider type. Untried candidates
are used at once, without backoff; once every candidate has been tried, the job backs off
and starts again from the primary. The job record's ``route`` field keeps where the job is
and what this round has tried.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from providers.config import ProvidersConfig
from providers.embeddings import EmbeddingRequest
from providers.registry import check_embedding, check_request
from providers.router import ModelRouter
from providers.types import ChatRequest
from tasks.jobs.record import JobRecord


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
    # The request's ``provider`` hint: an instance name or a provider type, or None.
    hint: str | None = None

    @classmethod
    def of(cls, job: JobRecord) -> RouteState:
        route: dict[str, Any] = job.route or {}
        primary = Candidate(route.get("primary", job.provider or ""), job.model or "")
        current = Candidate(
            route.get("instance", primary.instance), route.get("model", primary.model)
        )
        hint = job.request.get("provider") if isinstance(job.request, dict) else None
        return cls(
            primary,
            current,
            tuple(route.get("tried", ())),
            hint if isinstance(hint, str) else None,
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "primary": self.primary.instance,
            "instance": self.current.instance,
            "model": self.current.model,
            "tried": list(self.tried),
        }

    def moved_to(self, candidate: Candidate) -> RouteState:
        """Tried the current candidate; go to ``candidate`` now."""
        return RouteState(self.primary, candidate, (*self.tried, self.current.instance), self.hint)

    def restarted(self) -> RouteState:
        """Every candidate tried: back to the primary for the next round."""
        return RouteState(self.primary, self.primary, (), self.hint)


class FallbackPlanner:
    """Resolves an instance's fallbacks and picks the next untried one.

    ``unavailable`` names the instances no live worker serves now (none started, all gone,
    or disabled for missing credentials): a job moved there would wait in a queue nobody
    consumes, so they are never a fallback, and a new round starts there only once a
    worker is back.
    """

    def __init__(
        self,
        config: ProvidersConfig,
        unavailable: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._config = config
        self._router = ModelRouter(config)
        self._unavailable = unavailable

    def candidates(self, primary: Candidate, hint: str | None = None) -> list[Candidate]:
        inst = self._config.instances.get(primary.instance)
        if inst is None:
            return [primary]
        out = [primary]
        for fallback in inst.fallbacks:
            if fallback in self._config.instances:
                out.append(Candidate(fallback, primary.model))
            else:
                kind = self._router.kind_of(fallback)
                out.append(
                    Candidate(self._router.route(fallback, kind=kind).instance.name, fallback)
                )
        serving = self._router.candidates(primary.model)
        # Only where configuration says the primary serves the model: a model discovered
        # on a local server (Ollama) must not fall back to a cloud instance's pattern.
        if inst in serving:
            listed = {c.instance for c in out}
            out += [Candidate(o.name, primary.model) for o in serving if o.name not in listed]
        if hint is None:
            return out
        return [c for c in out if hint in (c.instance, self._config.instances[c.instance].type)]

    def restarted(self, state: RouteState) -> RouteState:
        """Every candidate tried: the next round starts at the primary, or, while no live
        worker serves the primary, where the job is now (a worker serves it: this one)."""
        if state.primary.instance in self._unavailable():
            return RouteState(state.primary, state.current, (), state.hint)
        return state.restarted()

    def next_untried(
        self, state: RouteState, request: ChatRequest | EmbeddingRequest
    ) -> Candidate | None:
        """The first candidate not yet tried in this round that can serve ``request`` (an
        embedding request: only where the candidate's model is an embedding model)."""
        tried = {*state.tried, state.current.instance, *self._unavailable()}
        for candidate in self.candidates(state.primary, state.hint):
            if candidate.instance in tried:
                continue
            inst = self._config.instances[candidate.instance]
            try:
                if isinstance(request, EmbeddingRequest):
                    check_embedding(inst, candidate.model, request)
                else:
                    # Judged as the candidate would run it: its model (the request names
                    # the current instance's upstream one), mapped by its own model_map.
                    check_request(inst, dataclasses.replace(request, model=candidate.model))
            except GatewayError:
                continue  # lacks a capability the request needs
            return candidate
        return None
