"""``ServiceCircuit``: a circuit breaker per downstream tool service, its state in Redis so
that every worker process on every host sees the same circuit.

A tool call that failed (after its HTTP retries) counts one failure; ``failure_threshold``
consecutive failures, from any process, open the circuit for ``reset_seconds``. While open,
calls fail fast with ``ToolUnavailable(retry_after=<seconds left>)``. After the reset, one
call is let through as the probe: its success closes the circuit, its failure reopens it.
A probe whose caller never reports (it died) lapses after its lease, and the next call
probes instead. Everything runs in short Lua scripts on Redis's clock, so hosts' clocks
do not matter. A caller's 4xx (``ToolFailed`` that is not ``ToolUnavailable``) shows the
service is up: it counts as a success.

Not pybreaker: its ``CircuitBreaker.call`` holds one lock for the whole call (32 concurrent
100 ms calls took 3.21 s instead of 0.11 s).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import structlog
from redis import Redis
from redis.exceptions import RedisError

from gateway import keys
from gateway.errors import ToolFailed, ToolUnavailable
from gateway.redis_clock import NOW_MS_LUA
from gateway.redis_replies import text

log = structlog.get_logger(__name__)

T = TypeVar("T")


# ARGV: 1 probe lease ms, 2 caller token, 3 longest retry hint while a probe is out (ms).
# Returns {1, 0} go, {2, 0} go as the probe, {0, ms} refused: retry in ms.
_ADMIT = (
    NOW_MS_LUA
    + """
local c = redis.call('HMGET', KEYS[1], 'state', 'until')
local state = c[1] or 'closed'
if state == 'closed' then return {1, 0} end
local reopen = tonumber(c[2] or '0')
if now < reopen then
  if state == 'open' then return {0, reopen - now} end
  return {0, math.min(reopen - now, tonumber(ARGV[3]))}
end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'until', now + tonumber(ARGV[1]),
  'probe', ARGV[2])
return {2, 0}
"""
)

# ARGV: 1 outcome (ok | fail | neutral), 2 caller token, 3 failure threshold, 4 reset ms,
# 5 key TTL ms. Returns the state after the call.
_RECORD = (
    NOW_MS_LUA
    + """
local c = redis.call('HMGET', KEYS[1], 'state', 'probe', 'failures')
local state = c[1] or 'closed'
local outcome = ARGV[1]
local probe = state == 'half_open' and c[2] == ARGV[2]
if state ~= 'closed' and not probe then
  -- Only the probe decides an open circuit; stragglers that started before it opened
  -- say nothing about the service now.
  return state
end
if outcome == 'ok' then
  if state ~= 'closed' or tonumber(c[3] or '0') > 0 then redis.call('DEL', KEYS[1]) end
  return 'closed'
end
if outcome == 'neutral' then
  -- The probe ended without a verdict (our own error): let the next call probe.
  if probe then redis.call('HSET', KEYS[1], 'until', now) end
  return state
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if probe or failures >= tonumber(ARGV[3]) then
  state = 'open'
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + tonumber(ARGV[4]))
  redis.call('HDEL', KEYS[1], 'probe')
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return state
"""
)

# KEYS[1] the service's circuit. Returns {state, consecutive failures, ms until a probe}.
STATE_LUA = (
    NOW_MS_LUA
    + """
local c = redis.call('HMGET', KEYS[1], 'state', 'failures', 'until')
local left = 0
if c[3] then left = math.max(tonumber(c[3]) - now, 0) end
return {c[1] or 'closed', tonumber(c[2] or '0'), left}
"""
)

# While a probe is out, others are told to look again soon: its verdict may come any time.
PROBING_RETRY_SECONDS = 1.0
# A key untouched this long after its last failure is forgotten (stale failure counts).
_IDLE_TTL_MS = 3_600_000


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CircuitStatus:
    """A service's circuit as observed now; ``probe_in_seconds`` is how long until the next
    probe may start (open) or the current probe's lease lapses (half open)."""

    service: str
    state: CircuitState
    failures: int
    probe_in_seconds: float

    @classmethod
    def from_reply(cls, service: str, reply: Sequence[Any]) -> CircuitStatus:
        """From ``STATE_LUA``'s reply (sync or asyncio client alike)."""
        state, failures, left_ms = reply
        return cls(service, CircuitState(text(state)), int(failures), int(left_ms) / 1000)

    def public(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "state": self.state.value,
            "failures": self.failures,
            "probe_in_seconds": round(self.probe_in_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class CircuitPass:
    """Permission for one call; report how it went with ``ServiceCircuit.record``."""

    service: str
    token: str
    probe: bool


class ServiceCircuit:
    """Circuit breakers of downstream services, shared through Redis (a sync client).

    If Redis cannot be reached the breaker steps aside (calls go through, logged): it
    protects services, it must not become a second way for tools to fail."""

    def __init__(
        self,
        redis: Redis,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        probe_lease_seconds: float = 35.0,
    ) -> None:
        self.redis = redis
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.probe_lease_seconds = probe_lease_seconds
        self._admit = redis.register_script(_ADMIT)
        self._record = redis.register_script(_RECORD)
        self._state = redis.register_script(STATE_LUA)

    def admit(self, service: str, *, probe_lease_seconds: float | None = None) -> CircuitPass:
        """A pass for one call, or ``ToolUnavailable`` with ``retry_after`` if the circuit is
        open or another caller holds the probe."""
        token = uuid.uuid4().hex
        lease = self.probe_lease_seconds if probe_lease_seconds is None else probe_lease_seconds
        try:
            verdict, wait_ms = self._admit(
                keys=[keys.tool_circuit(service)],
                args=[_ms(lease), token, _ms(PROBING_RETRY_SECONDS)],
            )
        except RedisError as exc:
            log.warning("tool_circuit_unreachable", service=service, error=type(exc).__name__)
            return CircuitPass(service, token, probe=False)
        if int(verdict) == 0:
            retry_after = round(max(int(wait_ms), 1) / 1000, 3)
            raise ToolUnavailable(
                f"{service} is failing; its circuit is open (retry in {retry_after:g}s)",
                retry_after=retry_after,
            )
        if int(verdict) == 2:
            log.info("tool_circuit_probe", service=service)
        return CircuitPass(service, token, probe=int(verdict) == 2)

    def record(self, ticket: CircuitPass, outcome: str) -> CircuitState | None:
        """Report a call: ``"ok"``, ``"fail"`` or ``"neutral"`` (no verdict). Returns the
        state after it (None if Redis could not be reached)."""
        try:
            state = self._record(
                keys=[keys.tool_circuit(ticket.service)],
                args=[
                    outcome,
                    ticket.token,
                    self.failure_threshold,
                    _ms(self.reset_seconds),
                    _ms(self.reset_seconds + self.probe_lease_seconds) + _IDLE_TTL_MS,
                ],
            )
        except RedisError as exc:
            log.warning(
                "tool_circuit_unreachable", service=ticket.service, error=type(exc).__name__
            )
            return None
        after = CircuitState(text(state))
        if after is CircuitState.OPEN and outcome == "fail":
            log.warning("tool_circuit_open", service=ticket.service, probe=ticket.probe)
        return after

    def call(
        self, service: str, run: Callable[[], T], *, probe_lease_seconds: float | None = None
    ) -> T:
        """``run()`` under the service's circuit: admitted, then its outcome recorded.
        ``ToolUnavailable`` (incl. timeouts) is a failure, any other ``ToolFailed`` or a
        result a success, and any other exception no verdict."""
        ticket = self.admit(service, probe_lease_seconds=probe_lease_seconds)
        try:
            result = run()
        except ToolUnavailable:
            self.record(ticket, "fail")
            raise
        except ToolFailed:
            self.record(ticket, "ok")
            raise
        except BaseException:
            self.record(ticket, "neutral")
            raise
        self.record(ticket, "ok")
        return result

    def state(self, service: str) -> CircuitStatus:
        """The service's circuit now (raises ``RedisError`` if Redis is down)."""
        return CircuitStatus.from_reply(service, self._state(keys=[keys.tool_circuit(service)]))


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
