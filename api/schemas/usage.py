"""``GET /v1/usage``: a tenant's paid requests, tokens and cost, grouped, with its limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas.common import ResponseModel


class UsageTotals(ResponseModel):
    """Paid provider replies (a tool loop's turns and a fallback's attempts each count),
    their tokens, and what they cost (models without a price count 0)."""

    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float


class UsageGroup(UsageTotals):
    key: str = Field(description="the day (YYYY-MM-DD), model or provider instance")


class UsageBudget(ResponseModel):
    period: str = Field(description="the UTC day (YYYY-MM-DD) or month (YYYY-MM) it applies to")
    limit_usd: float
    spent_usd: float
    remaining_usd: float


class UsageLimits(ResponseModel):
    """The tenant's configured limits (null: none) and what is left of its budgets now."""

    rpm: int | None
    tpm: int | None
    daily_budget: UsageBudget | None
    monthly_budget: UsageBudget | None


class UsageReport(ResponseModel):
    object: Literal["usage"]
    start: str = Field(description="first UTC day, included")
    end: str = Field(description="last UTC day, included")
    group_by: Literal["day", "model", "provider"]
    data: list[UsageGroup]
    totals: UsageTotals
    limits: UsageLimits
