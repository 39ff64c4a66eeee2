"""What the gateway can route to: ``GET /v1/models`` and ``GET /v1/providers``."""

from __future__ import annotations

from typing import Literal

from api.schemas.common import ResponseModel


class Model(ResponseModel):
    """A routable model, OpenAI's fields first; ``kind`` says which endpoint serves it
    (``chat``: ``/v1/chat/completions``, ``embedding``: ``/v1/embeddings``), ``instances``
    are in routing preference order, ``available`` without the ones workers disabled."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    kind: Literal["chat", "embedding"]
    instances: list[str]
    available: list[str]
    discovered_on: list[str]


class ModelPattern(ResponseModel):
    """An instance that serves every model matching its patterns."""

    instance: str
    type: str
    patterns: list[str]


class ModelList(ResponseModel):
    object: Literal["list"]
    data: list[Model]
    patterns: list[ModelPattern]


class ProviderLimits(ResponseModel):
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None


class ProviderUsage(ResponseModel):
    requests_last_minute: int
    tokens_last_minute: int


class ProviderCircuit(ResponseModel):
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    probe_in_seconds: float
    failure_threshold: int
    reset_seconds: float


class ProviderInstance(ResponseModel):
    """One provider instance: its queue, capacity use, limits and circuit. ``disabled``
    says why workers disabled it (names of credential sources, never values)."""

    name: str
    object: Literal["provider_instance"]
    type: str
    queue: str
    queue_depth: int
    waiting_for_capacity: int
    in_flight: int
    workers: int
    limits: ProviderLimits
    usage: ProviderUsage
    cooldown_seconds: float
    circuit: ProviderCircuit
    fallbacks: list[str]
    priority: int
    weight: int
    region: str | None
    disabled: str | None


class ProviderList(ResponseModel):
    object: Literal["list"]
    data: list[ProviderInstance]
