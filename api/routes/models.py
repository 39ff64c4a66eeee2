"""``GET /v1/models``: every routable model, OpenAI-style, with the instances serving it."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Services, Tenant
from api.schemas import Model, ModelList, ModelPattern, error_responses

router = APIRouter(prefix="/v1", tags=["models"])


# Served from memory: no Redis error to report.
@router.get("/models", responses=error_responses(401))
async def list_models(_: Tenant, services: Services) -> ModelList:
    """Configured and discovered models; ``instances`` in routing preference order, with
    the ones workers disabled (missing credentials) left out of ``available``."""
    instances = services.providers.instances
    disabled = services.monitor.disabled
    router = services.router
    data = [
        Model(
            id=model,
            object="model",
            created=0,
            owned_by=instances[names[0]].type,
            instances=names,
            available=[n for n in names if n not in disabled],
            discovered_on=router.discovered(model),
        )
        for model, names in router.models()
    ]
    patterns = [
        ModelPattern(instance=inst.name, type=inst.type, patterns=inst.model_patterns)
        for inst in instances.values()
        if inst.model_patterns
    ]
    return ModelList(object="list", data=data, patterns=patterns)
