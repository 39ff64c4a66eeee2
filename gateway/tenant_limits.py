"""A tenant's limits (``LLM_GATEWAY_TENANT_LIMITS``): requests and tokens per minute, and
USD per UTC day and month. Enforced at submission by ``tasks.usage.admission``. Beside
them, the tenant's response-cache default (``cache_ttl_seconds``, ``api.response_cache``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TenantLimits(BaseModel):
    """Each limit is optional; an unset one does not apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: int | None = Field(default=None, gt=0)
    # Estimated input tokens at submission, reconciled with what replies really used.
    tpm: int | None = Field(default=None, gt=0)
    daily_budget_usd: float | None = Field(default=None, ge=0)
    monthly_budget_usd: float | None = Field(default=None, ge=0)
    # Set: the tenant's chat requests use the response cache unless their header says
    # otherwise, with this TTL; unset: only requests that ask for it.
    cache_ttl_seconds: int | None = Field(default=None, gt=0)
