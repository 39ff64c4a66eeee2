"""``GET /v1/models`` and ``GET /v1/models/{id}``: every routable model, OpenAI-style, with
its kind and the instances serving it."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Services, Tenant
from api.schemas import Model, ModelList, ModelPattern, error_responses
from api.services import ApiServices
from gateway.errors import NotFound

router = APIRouter(prefix="/v1", tags=["models"])


# Served from memory: no Redis error to report.
@router.get("/models", responses=error_responses(401))
async def list_models(_: Tenant, services: Services) -> ModelList:
    """Configured and discovered models; ``instances`` in routing preference order, with
    the ones workers disabled (missing credentials) left out of ``available``."""
    data = [_model(services, model, names) for model, names in services.router.models()]
    patterns = [
        ModelPattern(instance=inst.name, type=inst.type, patterns=inst.model_patterns)
        for inst in services.providers.instances.values()
        if inst.model_patterns
    ]
    return ModelList(object="list", data=data, patterns=patterns)


# ``:path``: model ids hold slashes and colons (``ibm/slate-125m-english-rtrvr``,
# ``amazon.titan-embed-text-v2:0``), which OpenAI's SDK sends as they are.
@router.get("/models/{model_id:path}", responses=error_responses(401, 404))
async def get_model(model_id: str, _: Tenant, services: Services) -> Model:
    """One model: configured, discovered, or matching an instance's patterns (a request
    for it would be routed); 404 for any other id."""
    instances = services.router.candidates(model_id)
    if not instances:
        raise NotFound(
            f"model {model_id[:256]!r} is not served here; GET /v1/models lists the models",
            param="model",
        )
    return _model(services, model_id, [inst.name for inst in instances])


def _model(services: ApiServices, model: str, names: list[str]) -> Model:
    disabled = services.monitor.disabled
    return Model(
        id=model,
        object="model",
        created=0,
        owned_by=services.providers.instances[names[0]].type,
        kind=services.router.kind_of(model),
        instances=names,
        available=[n for n in names if n not in disabled],
        discovered_on=services.router.discovered(model),
    )
