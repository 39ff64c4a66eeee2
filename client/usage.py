"""``GET /v1/usage`` as the client reads it: the tenant's paid requests, tokens and cost,
grouped by day, model or provider instance, with its limits and what is left of its
budgets (docs/usage-and-budgets.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

GroupBy = Literal["day", "model", "provider"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class UsageTotals(_Record):
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float


class UsageGroup(UsageTotals):
    key: str  # the day (YYYY-MM-DD), model or provider instance


class UsageBudget(_Record):
    period: str
    limit_usd: float
    spent_usd: float
    remaining_usd: float


class UsageLimits(_Record):
    rpm: int | None = None
    tpm: int | None = None
    daily_budget: UsageBudget | None = None
    monthly_budget: UsageBudget | None = None


class UsageReport(_Record):
    object: Literal["usage"] = "usage"
    start: str
    end: str
    group_by: GroupBy
    data: list[UsageGroup]
    totals: UsageTotals
    limits: UsageLimits
