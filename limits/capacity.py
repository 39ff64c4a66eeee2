"""``ProviderCapacity``: whether a provider instance may take one more call right now —
its ``rpm``, ``tpm`` and ``max_concurrency`` limits, a 429 cooldown, and its circuit
breaker — shared by every worker process on every host through Redis.

A call is bracketed by two scripts (``limits/scripts``): ``acquire`` before it and
``release`` after it, so limits, in-flight leases and the circuit cost two Redis round
trips per call. A job's provider call uses ``acquire_attempt``, which also checks the
job's lease and counts the call as the job's attempt in the same step. Windows are
sliding logs on Redis's clock, so no window ever holds more than the limit, whatever the
number of workers or their clocks.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis

from gateway import keys
from gateway.redis_replies import text
from limits.capacity_scripts import CapacityScripts, ReleaseCall, release_call
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest
from providers.types import ChatRequest

# A minute plus a half-second guard: a request admitted at the very start of our window
# and one admitted as it closes can reach the provider up to the spread of network and
# scheduling delay apart, so the provider could see both in one 60 s window of its own.
WINDOW_MS = 60_500
# Characters per token for reservations: a deliberate over-estimate for English text
# with real tokenizers (about 4 characters per token), corrected after the call.
CHARS_PER_TOKEN = 4


class Outcome(StrEnum):
    """How a call ended, as the circuit and the limiter see it."""

    OK = "ok"
    FAILED = "fail"  # 5xx, timeout, connection error: counts towards opening the circuit
    RATE_LIMITED = "rate_limited"  # 429: the instance cools down for every worker
    NEUTRAL = "neutral"  # the call never reached a verdict (e.g. our own bug)


@dataclass(frozen=True, slots=True)
class Admission:
    """Permission for one call; ``release`` it exactly once when the call ends."""

    instance: str
    token: str
    tokens_reserved: int
    probe: bool


@dataclass(frozen=True, slots=True)
class Wait:
    """Not now: try again in ``seconds`` (``reason``: rpm, tpm, concurrency, cooldown,
    circuit_open)."""

    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class NotHeld:
    """The job's lease no longer holds it (cancelled, finished, taken over): nothing was
    taken, and the call must not be made. ``status``: the job's status now."""

    status: str


class RequestTooLarge(Exception):
    """The request's token estimate exceeds the instance's whole ``tpm``: it never fits."""

    def __init__(self, needed: int, tpm: int) -> None:
        super().__init__(f"the request needs about {needed} tokens; the instance allows {tpm}/min")
        self.needed = needed
        self.tpm = tpm


def estimate_tokens(request: ChatRequest, reply_estimate: int) -> int:
    """Tokens to reserve: the prompt's characters / 4 plus the reply's ``max_tokens``."""
    chars = 0
    for message in request.messages:
        chars += len(message.text)
        chars += sum(len(c.name) + len(c.arguments) for c in message.tool_calls)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(str(tool.parameters))
    reply = request.max_tokens if request.max_tokens is not None else reply_estimate
    return math.ceil(chars / CHARS_PER_TOKEN) + reply


def estimate_embedding_tokens(request: EmbeddingRequest) -> int:
    """Tokens to reserve for an embedding call: its texts' characters / 4 (no reply)."""
    return max(1, math.ceil(request.chars / CHARS_PER_TOKEN))


def wait_order(priority: int, created_at: float, max_priority: int = 9) -> int:
    """A waiter's place in line: higher priority first, then earlier submission."""
    return (max_priority - priority) * 10**13 + int(created_at * 1000)


class ProviderCapacity:
    """Acquire and release capacity on provider instances (blocking; worker threads)."""

    def __init__(
        self,
        redis: Redis,
        *,
        lease_seconds: float,
        waiter_grace_seconds: float = 15.0,
        poll_seconds: float = 5.0,
    ) -> None:
        self._lease_ms = int(lease_seconds * 1000)
        self._grace_ms = int(waiter_grace_seconds * 1000)
        self._poll_ms = int(poll_seconds * 1000)
        self._redis = redis
        self._scripts = CapacityScripts(redis)

    def acquire(
        self, instance: InstanceConfig, job_id: str, order: int, tokens: int
    ) -> Admission | Wait:
        """Admit one call for ``job_id`` now, or say how long to wait."""
        token = uuid.uuid4().hex
        reply = self._scripts.acquire(
            instance.name, job_id, order=order, tokens=tokens, token=token, **self._args(instance)
        )
        return self.verdict(instance, tokens, token, reply)

    def acquire_attempt(
        self, instance: InstanceConfig, job_id: str, order: int, tokens: int, *, lease: str
    ) -> Admission | Wait | NotHeld:
        """``acquire``, for a job's provider call while ``lease`` holds the job: when
        admitted, the call is counted as the job's attempt in the same step."""
        token = uuid.uuid4().hex
        reply = self._scripts.acquire_attempt(
            instance.name,
            job_id,
            lease=lease,
            attempt_id=uuid.uuid4().hex,
            order=order,
            tokens=tokens,
            token=token,
            **self._args(instance),
        )
        if int(reply[0]) == -2:
            return NotHeld(text(reply[2]))
        return self.verdict(instance, tokens, token, reply)

    def admission_args(self, instance: InstanceConfig, token: str) -> list[int | str]:
        """ARGV 4..12 of ``acquire.lua`` (the instance's limits and timings, and the
        admission's ``token``), for a script that admits a call along with its own work
        (``tasks/jobs/scripts/claim_admit.lua``)."""
        a = self._args(instance)
        return [
            a["rpm"],
            a["tpm"],
            a["max_concurrency"],
            a["lease_ms"],
            token,
            a["waiter_grace_ms"],
            a["window_ms"],
            a["poll_ms"],
            a["probe_ms"],
        ]

    def _args(self, instance: InstanceConfig) -> dict[str, int]:
        """The admission's limits and timings, as ``CapacityScripts.acquire*`` take them."""
        limits = instance.limits
        return {
            "rpm": limits.rpm or 0,
            "tpm": limits.tpm or 0,
            "max_concurrency": limits.max_concurrency or 0,
            "lease_ms": self._lease_ms,
            "waiter_grace_ms": self._grace_ms,
            "window_ms": WINDOW_MS,
            "poll_ms": self._poll_ms,
            "probe_ms": int(instance.timeout_seconds * 1000) + 5000,
        }

    @staticmethod
    def verdict(
        instance: InstanceConfig, tokens: int, token: str, reply: list[Any]
    ) -> Admission | Wait:
        """An ``acquire.lua`` reply for ``tokens`` under admission ``token``, read;
        ``RequestTooLarge`` when it can never fit."""
        admitted, wait_ms, reason = reply
        why = text(reason)
        if int(admitted) == 1:
            return Admission(instance.name, token, tokens, probe=why == "probe")
        if int(admitted) == -1:
            raise RequestTooLarge(tokens, instance.limits.tpm or 0)
        return Wait(int(wait_ms) / 1000, why)

    def settlement(
        self,
        instance: InstanceConfig,
        admission: Admission,
        outcome: Outcome = Outcome.OK,
        *,
        tokens_used: int | None,
        cooldown_seconds: float = 0.0,
    ) -> ReleaseCall:
        """What ``release`` runs, for a script that releases the call along with its own
        work too (a plain completion's finish: ``tasks/jobs/scripts/finish_paid_release.lua``)."""
        return release_call(
            instance.name,
            admission.token,
            tokens_used=tokens_used,
            outcome=outcome.value,
            cooldown_ms=int(cooldown_seconds * 1000),
            failure_threshold=instance.circuit.failure_threshold,
            reset_ms=int(instance.circuit.reset_seconds * 1000),
            max_concurrency=instance.limits.max_concurrency or 0,
        )

    def release(
        self,
        instance: InstanceConfig,
        admission: Admission,
        outcome: Outcome,
        *,
        tokens_used: int | None = None,
        cooldown_seconds: float = 0.0,
    ) -> str:
        """End a call: free its slot, settle its tokens, tell the circuit; returns the
        circuit state."""
        call = self.settlement(
            instance, admission, outcome, tokens_used=tokens_used, cooldown_seconds=cooldown_seconds
        )
        return text(self._scripts.release(call))

    def forget(self, instance: str, job_id: str) -> None:
        """Take ``job_id`` out of ``instance``'s waiting line (it moved to a fallback)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(keys.limit(instance, "waiting"), job_id)
        pipe.zrem(keys.limit(instance, "waiting:until"), job_id)
        pipe.hdel(keys.limit(instance, "waiting:n"), job_id)
        pipe.execute()

    def renew(self, admissions: list[Admission]) -> None:
        """Extend the in-flight leases of calls still running (a lapsed one frees its slot)."""
        if not admissions:
            return
        pipe = self._redis.pipeline(transaction=False)
        for admission in admissions:
            self._scripts.renew(admission.instance, admission.token, self._lease_ms, client=pipe)
        pipe.execute()


@dataclass(frozen=True, slots=True)
class Usage:
    """What an instance is using now, for ``GET /v1/providers``."""

    requests_last_minute: int
    tokens_last_minute: int
    in_flight: int
    waiting: int
    cooldown_seconds: float
    circuit: str
    consecutive_failures: int
    probe_in_seconds: float

    @classmethod
    def from_reply(cls, reply: list[Any]) -> Usage:
        state = text(reply[5])
        return cls(
            requests_last_minute=int(reply[0]),
            tokens_last_minute=int(reply[1]),
            in_flight=int(reply[2]),
            waiting=int(reply[3]),
            cooldown_seconds=int(reply[4]) / 1000,
            circuit=state,
            consecutive_failures=int(reply[6]),
            probe_in_seconds=int(reply[7]) / 1000,
        )
