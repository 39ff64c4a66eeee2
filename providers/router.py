"""Model routing: exact name → pattern → default model. Pure and in-memory (microseconds)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from gateway.errors import UnknownModel
from providers.config import InstanceConfig, ProvidersConfig


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
    """Resolves a requested model name to a provider instance."""

    def __init__(self, config: ProvidersConfig) -> None:
        self._config = config
        self._exact: dict[str, InstanceConfig] = {}
        for inst in config.instances.values():
            for model in [*inst.models, *inst.model_map]:
                self._exact.setdefault(model, inst)
        self._patterns: list[tuple[re.Pattern[str], InstanceConfig]] = [
            (re.compile(fnmatch.translate(p)), inst)
            for inst in config.instances.values()
            for p in inst.model_patterns
        ]

    def route(self, model: str) -> Route:
        """The route for ``model``; ``UnknownModel`` (400) lists what is known."""
        inst = self._exact.get(model)
        if inst is None:
            inst = next((i for rx, i in self._patterns if rx.match(model)), None)
        if inst is None:
            default = self._config.default_model
            if default and default != model and default in self._exact:
                return self.route(default)
            raise UnknownModel(model, self.known_models())
        return Route(instance=inst, model=model, upstream_model=inst.upstream_model(model))

    def known_models(self) -> list[str]:
        return sorted(self._exact)

    def models(self) -> list[tuple[str, list[str]]]:
        """Every exact model name with the instances that serve it."""
        served: dict[str, list[str]] = {}
        for inst in self._config.instances.values():
            for model in [*inst.models, *inst.model_map]:
                served.setdefault(model, []).append(inst.name)
        return sorted(served.items())

    @property
    def instances(self) -> dict[str, InstanceConfig]:
        return dict(self._config.instances)
