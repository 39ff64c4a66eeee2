"""Model routing: which provider instance a request for a model goes to.

Candidates are the instances listing the model (``models``, ``embedding_models``,
``model_map``, ``deployments``, or discovered from the server), else those whose
``model_patterns`` match, else the default model's. A model is an embedding model when
an instance lists it under ``embedding_models`` (everything else is a chat model): a
request for the other kind is refused before any instance is considered. A per-request
hint (an instance name or a provider type) narrows the candidates.
Among the rest, disabled instances are dropped; instances a live worker serves come before
those nobody serves now; instances with headroom come before those without (cooling down
after a 429, circuit open, at a limit); then the lowest ``priority`` wins, and equal
priorities share traffic by ``weight``.

Pure and in memory: live state arrives as an ``InstanceStates`` snapshot the caller keeps
fresh, so a decision costs microseconds (``bench/routing_bench.py``).
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.errors import (
    CapabilityMissing,
    GatewayError,
    InvalidRequest,
    ServiceUnavailable,
    UnknownModel,
)
from providers.config import InstanceConfig, ProvidersConfig

_PATTERN_CACHE_SIZE = 4096

ModelKind = Literal["chat", "embedding"]


@dataclass(frozen=True, slots=True)
class InstanceState:
    """What the API knows of an instance's live state."""

    disabled: bool = False
    # False while cooling down after a 429, with an open circuit, or at a configured limit.
    headroom: bool = True
    # False while no live worker consumes the instance's queue: a job sent there waits
    # until one starts.
    served: bool = True


InstanceStates = Mapping[str, InstanceState]
_READY = InstanceState()


@dataclass(frozen=True, slots=True)
class Route:
    """Where a model's job goes."""

    instance: InstanceConfig
    model: str
    upstream_model: str

    @property
    def queue(self) -> str:
        return self.instance.queue


class ModelRouter:
    """Resolves a requested model name (and optional hint) to a provider instance."""

    def __init__(self, config: ProvidersConfig, rng: random.Random | None = None) -> None:
        self._config = config
        self._rng = rng or random.Random()
        self._order = {name: i for i, name in enumerate(config.instances)}
        self._types = frozenset(i.type for i in config.instances.values())
        self._configured: dict[str, list[InstanceConfig]] = {}
        for inst in config.instances.values():
            for model in dict.fromkeys([*inst.models, *inst.embedding_models, *inst.model_map]):
                self._configured.setdefault(model, []).append(inst)
        self._embedding = config.embedding_models
        self._discovered: dict[str, frozenset[str]] = {}
        self._patterns: list[tuple[re.Pattern[str], InstanceConfig]] = [
            (re.compile(fnmatch.translate(p)), inst)
            for inst in config.instances.values()
            for p in inst.model_patterns
        ]
        self._rebuild()

    def _rebuild(self) -> None:
        exact: dict[str, list[InstanceConfig]] = {m: list(i) for m, i in self._configured.items()}
        for name, models in self._discovered.items():
            inst = self._config.instances[name]
            for model in models:
                serving = exact.setdefault(model, [])
                if inst not in serving:
                    serving.append(inst)
        self._exact = {m: self._sorted(insts) for m, insts in exact.items()}
        self._pattern_hits: dict[str, tuple[InstanceConfig, ...]] = {}

    def _sorted(self, instances: Iterable[InstanceConfig]) -> tuple[InstanceConfig, ...]:
        return tuple(sorted(instances, key=lambda i: (i.priority, self._order[i.name])))

    def set_discovered(self, instance: str, models: Iterable[str]) -> bool:
        """Replace the models discovered on ``instance`` (e.g. Ollama's ``/api/tags``).
        Returns whether anything changed."""
        found = frozenset(models)
        if self._discovered.get(instance) == found:
            return False
        self._discovered[instance] = found
        self._rebuild()
        return True

    def candidates(self, model: str) -> tuple[InstanceConfig, ...]:
        """Every instance that can serve ``model``, in configured preference order."""
        exact = self._exact.get(model)
        if exact is not None:
            return exact
        hits = self._pattern_hits.get(model)
        if hits is None:
            hits = self._sorted({i.name: i for rx, i in self._patterns if rx.match(model)}.values())
            # Misses are not cached: a flood of unknown names must not fill the cache.
            if hits and len(self._pattern_hits) < _PATTERN_CACHE_SIZE:
                self._pattern_hits[model] = hits
        return hits

    def route(
        self,
        model: str,
        *,
        hint: str | None = None,
        states: InstanceStates | None = None,
        accepts: Callable[[InstanceConfig], None] | None = None,
        kind: ModelKind = "chat",
    ) -> Route:
        """The route for ``model``: 400 ``UnknownModel`` when nothing serves it, 400 for a
        model of the other ``kind`` or a hint that cannot serve it, 503 when every
        candidate is disabled.

        ``accepts`` raises for an instance that cannot take the request (a capability it
        lacks, a wire-format limit); such instances are never chosen, and when none can
        take it the first candidate's error is raised.
        """
        self._check_kind(model, kind)
        candidates = self.candidates(model)
        if not candidates:
            default = self._config.default_model
            if default and default != model and default in self._exact:
                return self.route(default, hint=hint, states=states, accepts=accepts)
            raise UnknownModel(model, self.known_models())
        if hint is not None:
            candidates = self._narrow(model, candidates, hint)
        chosen = self._choose(model, candidates, states or {})
        if accepts is not None:
            chosen = self._first_accepting(model, candidates, states or {}, chosen, accepts)
        return Route(instance=chosen, model=model, upstream_model=chosen.upstream_model(model))

    def kind_of(self, model: str) -> ModelKind:
        return "embedding" if model in self._embedding else "chat"

    def _check_kind(self, model: str, kind: ModelKind) -> None:
        if kind == self.kind_of(model):
            return
        if kind == "chat":
            raise CapabilityMissing(
                f"model {model!r} is an embedding model: use POST /v1/embeddings "
                "(or a job of type embedding)",
                param="model",
            )
        if not self.candidates(model):
            raise UnknownModel(model, sorted(self._embedding))
        listed = ", ".join(sorted(self._embedding)) or "(none configured)"
        raise CapabilityMissing(
            f"model {model!r} is a chat model, not an embedding model; embedding models: {listed}",
            param="model",
        )

    def _narrow(
        self, model: str, candidates: tuple[InstanceConfig, ...], hint: str
    ) -> tuple[InstanceConfig, ...]:
        if hint not in self._config.instances and hint not in self._types:
            known = ", ".join(sorted({*self._config.instances, *self._types}))
            raise InvalidRequest(
                f"provider {hint[:64]!r} is neither an instance nor a provider type; "
                f"known: {known}",
                param="provider",
            )
        narrowed = tuple(i for i in candidates if hint in (i.name, i.type))
        if not narrowed:
            serving = ", ".join(i.name for i in candidates)
            raise InvalidRequest(
                f"provider {hint!r} does not serve model {model!r}; it is served by {serving}",
                param="provider",
            )
        return narrowed

    def _choose(
        self, model: str, candidates: tuple[InstanceConfig, ...], states: InstanceStates
    ) -> InstanceConfig:
        if len(candidates) == 1 and not states:
            return candidates[0]
        enabled = [i for i in candidates if not states.get(i.name, _READY).disabled]
        if not enabled:
            raise ServiceUnavailable(
                f"every instance serving model {model!r} is disabled (missing credentials)"
            )
        # An instance some worker serves comes first: a job queued where nobody consumes
        # waits for a worker however much headroom the instance has.
        served = [i for i in enabled if states.get(i.name, _READY).served] or enabled
        ready = [i for i in served if states.get(i.name, _READY).headroom] or served
        # Weight 0: only when no instance with a weight can take the job.
        ready = [i for i in ready if i.weight > 0] or ready
        best = ready[0].priority
        tier = [i for i in ready if i.priority == best]
        if len(tier) == 1:
            return tier[0]
        weights = [i.weight for i in tier]
        if not any(weights):
            return tier[0]
        return self._rng.choices(tier, weights=weights)[0]

    def _first_accepting(
        self,
        model: str,
        candidates: tuple[InstanceConfig, ...],
        states: InstanceStates,
        chosen: InstanceConfig,
        accepts: Callable[[InstanceConfig], None],
    ) -> InstanceConfig:
        """``chosen``, or the next choice among the others, until one accepts. When none
        does, the most preferred candidate's reason is the error."""
        refused: dict[str, GatewayError] = {}
        remaining = candidates
        while True:
            try:
                accepts(chosen)
                return chosen
            except GatewayError as exc:
                refused[chosen.name] = exc
            remaining = tuple(i for i in remaining if i is not chosen)
            try:
                if not remaining:
                    raise ServiceUnavailable()
                chosen = self._choose(model, remaining, states)
            except ServiceUnavailable:
                first = next(i.name for i in candidates if i.name in refused)
                raise refused[first] from None

    def known_models(self) -> list[str]:
        return sorted(self._exact)

    def models(self) -> list[tuple[str, list[str]]]:
        """Every exact model name (configured or discovered) with the instances serving it,
        in preference order."""
        return [(m, [i.name for i in insts]) for m, insts in sorted(self._exact.items())]

    def discovered(self, model: str) -> list[str]:
        """The instances on which ``model`` was discovered rather than configured."""
        return [name for name, models in self._discovered.items() if model in models]

    @property
    def instances(self) -> dict[str, InstanceConfig]:
        return dict(self._config.instances)
