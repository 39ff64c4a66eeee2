"""``TenantAdmission``: a tenant's rpm, tpm and daily/monthly budgets, checked and debited
in one Lua step at submission (``scripts/admit.lua``), so the limits hold exactly across
every API process. tpm counts an estimate of the request's input tokens now; the job's
first paid reply trades it for what was really used (``tasks/jobs/scripts/paid_reply.lua``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from gateway import keys
from gateway.errors import BudgetExceeded, TenantRateLimited
from gateway.lua import register
from gateway.redis_replies import text
from gateway.tenant_limits import TenantLimits
from tasks.usage.counters import nano_usd

# A rough count: about 4 bytes of JSON per token. Reconciled with the real count later.
BYTES_PER_TOKEN = 4


def estimate_tokens(request_bytes: int) -> int:
    """The tokens a request's input is likely to be, from its JSON size."""
    return max(1, request_bytes // BYTES_PER_TOKEN)


class TenantAdmission:
    """Admits submissions within their tenant's limits; tenants without limits pass free."""

    def __init__(self, redis: Redis, limits: Mapping[str, TenantLimits]) -> None:
        self._limits = dict(limits)
        self._admit = register(redis, "tasks/usage/scripts/admit.lua")

    def limits(self, tenant: str) -> TenantLimits | None:
        return self._limits.get(tenant)

    async def admit(
        self, tenant: str, estimated_tokens: int, *, requests: int = 1, now: float | None = None
    ) -> int:
        """Admit ``requests`` (one job, or a batch's documents) or raise
        ``TenantRateLimited`` (429, ``retry-after``) or ``BudgetExceeded`` (402). Returns
        the tokens the tpm bucket lent (0: no tpm)."""
        limits = self._limits.get(tenant)
        if limits is None:
            return 0
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))
        reply: Any = await self._admit(
            keys=[
                keys.tenant_rate(tenant),
                keys.usage_day(tenant, day),
                keys.usage_month(tenant, day[:7]),
            ],
            args=[
                _opt(limits.rpm),
                _opt(limits.tpm),
                estimated_tokens,
                "" if limits.daily_budget_usd is None else nano_usd(limits.daily_budget_usd),
                "" if limits.monthly_budget_usd is None else nano_usd(limits.monthly_budget_usd),
                requests,
            ],
        )
        verdict, amount, name = int(reply[0]), int(reply[1]), text(reply[2])
        if verdict == 2:
            budget = getattr(limits, name)
            raise BudgetExceeded(
                f"{name} of {budget} USD is spent ({amount / 1e9:.6f} USD used); see GET /v1/usage",
                param=name,
            )
        if verdict == 3:
            raise TenantRateLimited(
                f"the tenant's {name} limit of {getattr(limits, name)} is reached",
                param=name,
                retry_after=amount / 1000,
            )
        return estimated_tokens if limits.tpm is not None else 0


def _opt(value: int | None) -> int | str:
    return "" if value is None else value
