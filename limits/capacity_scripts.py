"""``CapacityScripts``: the limiter's Lua (``limits/scripts/*.lua``), one typed method per
script, each owning its KEYS and ARGV order. Each runs atomically on Redis's clock.

Keys of one instance (``keys.limit(instance, part)``), in the order every script takes them:

1. ``rpm``       zset: admission token → admitted at (ms). A sliding-log window: exact.
2. ``tpm``       zset: admission token → admitted at (ms).
3. ``tpm:n``     hash: admission token → tokens reserved (reconciled after the call).
4. ``tpm:sum``   string: total of ``tpm:n`` (kept in step by the same scripts).
5. ``inflight``  zset: admission token → lease expiry (ms). Lapsed leases are dropped.
6. ``waiting``   zset: job id → order (priority band, then submission time).
7. ``waiting:until`` zset: job id → when its waiting entry goes stale (ms).
8. ``waiting:n`` hash: job id → tokens it will ask for.
9. ``cooldown``  string with a TTL, set on a provider 429.
10. circuit hash (``keys.circuit``): state, failures, until (ms).

Beside them, ``deferred`` (zset: job id → when due, ms) indexes the instance's jobs in the
shared deferred set, so a metrics scrape counts its backlog with one ``ZCARD``
(``api.cluster_metrics``). ``requeue.lua`` adds to it, ``pump.lua`` and ``release.lua``
remove from it as they take jobs out of the deferred set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from gateway import keys
from gateway.lua import register

LIMIT_PARTS = (
    "rpm",
    "tpm",
    "tpm:n",
    "tpm:sum",
    "inflight",
    "waiting",
    "waiting:until",
    "waiting:n",
    "cooldown",
)


def limit_keys(instance: str) -> list[str]:
    """The keys every capacity script takes, in order."""
    return [*(keys.limit(instance, part) for part in LIMIT_PARTS), keys.circuit(instance)]


@dataclass(frozen=True, slots=True)
class ReleaseCall:
    """``release.lua``'s KEYS and ARGV for one call's end, for a script that includes it
    (``tasks/jobs/scripts/finish_paid_release.lua``) to release in its own round trip."""

    keys: list[str]
    args: list[Any]


def release_call(
    instance: str,
    token: str,
    *,
    tokens_used: int | None,
    outcome: str,
    cooldown_ms: int,
    failure_threshold: int,
    reset_ms: int,
    max_concurrency: int,
) -> ReleaseCall:
    """What ``release.lua`` takes to end the call ``token`` on ``instance``."""
    return ReleaseCall(
        keys=[*limit_keys(instance), keys.DEFERRED],
        args=[
            token,
            -1 if tokens_used is None else tokens_used,
            outcome,
            cooldown_ms,
            failure_threshold,
            reset_ms,
            max_concurrency,
        ],
    )


class CapacityScripts:
    """The limiter's scripts, registered once on one client. Each method returns the
    script's reply (an awaitable of it on an asyncio client); ``client`` queues the call
    on a pipeline instead."""

    def __init__(self, redis: Redis | AsyncRedis) -> None:
        self._acquire = register(redis, "limits/scripts/acquire.lua")
        self._acquire_attempt = register(redis, "limits/scripts/acquire_attempt.lua")
        self._release = register(redis, "limits/scripts/release.lua")
        self._usage = register(redis, "limits/scripts/usage.lua")
        self._renew = register(redis, "limits/scripts/renew.lua")

    def acquire(
        self,
        instance: str,
        job_id: str,
        *,
        order: int,
        tokens: int,
        rpm: int,
        tpm: int,
        max_concurrency: int,
        lease_ms: int,
        token: str,
        waiter_grace_ms: int,
        window_ms: int,
        poll_ms: int,
        probe_ms: int,
    ) -> Any:
        """{1, 0, "ok" | "probe"}, {0, wait ms, reason} or {-1, 0, "too_large"}
        (``acquire.lua``); a limit of 0 means none."""
        return self._acquire(
            keys=limit_keys(instance),
            args=[
                job_id,
                order,
                tokens,
                rpm,
                tpm,
                max_concurrency,
                lease_ms,
                token,
                waiter_grace_ms,
                window_ms,
                poll_ms,
                probe_ms,
            ],
        )

    def acquire_attempt(
        self,
        instance: str,
        job_id: str,
        *,
        lease: str,
        attempt_id: str,
        order: int,
        tokens: int,
        rpm: int,
        tpm: int,
        max_concurrency: int,
        lease_ms: int,
        token: str,
        waiter_grace_ms: int,
        window_ms: int,
        poll_ms: int,
        probe_ms: int,
    ) -> Any:
        """``acquire``, and when admitted the call counted as the job's attempt in the
        same step, while ``lease`` holds the job; {-2, 0, status} when it does not
        (``acquire_attempt.lua``: nothing taken)."""
        return self._acquire_attempt(
            keys=[*limit_keys(instance), keys.job(job_id)],
            args=[
                job_id,
                order,
                tokens,
                rpm,
                tpm,
                max_concurrency,
                lease_ms,
                token,
                waiter_grace_ms,
                window_ms,
                poll_ms,
                probe_ms,
                lease,
                attempt_id,
            ],
        )

    def release(self, call: ReleaseCall) -> Any:
        """The circuit state after the call (``release.lua``)."""
        return self._release(keys=call.keys, args=call.args)

    def usage(self, instance: str, window_ms: int, *, client: Any = None) -> Any:
        """A read-only snapshot (``usage.lua``; ``limits.capacity.Usage.from_reply``)."""
        return self._usage(keys=limit_keys(instance), args=[window_ms], client=client)

    def renew(self, instance: str, token: str, lease_ms: int, *, client: Any = None) -> Any:
        """Extend one call's in-flight lease (``renew.lua``)."""
        return self._renew(
            keys=[keys.limit(instance, "inflight")], args=[lease_ms, token], client=client
        )
