"""``ClusterMetrics``: the cluster-wide gauges of the API's ``/metrics``, read from Redis at
scrape time, so one scrape of any API process gives the whole cluster's figures and every
process reports the same ones.

The scrape awaits ``refresh`` (one Lua script, ``api/scripts/cluster_metrics.lua``), then
renders: prometheus-client collectors are synchronous, so the collector yields the snapshot
the scrape just read. Between the two nothing awaits, so concurrent scrapes cannot mix.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import keys
from gateway.lua import register
from gateway.queues import MAX_PRIORITY, TOOLS_QUEUE, WEBHOOKS_QUEUE, queue_key
from gateway.redis_replies import text
from providers.config import InstanceConfig

log = structlog.get_logger(__name__)

# ``llm_gateway_circuit_state``'s values.
CIRCUIT_CLOSED, CIRCUIT_HALF_OPEN, CIRCUIT_OPEN = 0, 1, 2
# A deferred job overdue this long is checked against the deferred set (the script's
# self-repair of its per-instance index); the pump normally takes due jobs within a second.
OVERDUE_CHECK_MS = 60_000


@dataclass(frozen=True, slots=True)
class InstanceFigures:
    queued: int
    deferred: int
    waiting: int
    in_flight: int
    circuit: int

    @property
    def backlog(self) -> int:
        """Jobs for the instance not running: on its queue's lists, or deferred (capacity
        waits and retry back-offs). A job is in exactly one of the two; jobs waiting for
        capacity are deferred between their checks, so ``waiting`` is a part of this."""
        return self.queued + self.deferred


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    instances: dict[str, InstanceFigures]
    workers_alive: dict[str, int]
    webhook_dead_letters: int


def circuit_value(state: str, probe_in_ms: int) -> int:
    """0 closed, 1 half-open (a probe is out, or the reset time has passed and the next call
    probes), 2 open."""
    if state == "open":
        return CIRCUIT_OPEN if probe_in_ms > 0 else CIRCUIT_HALF_OPEN
    return CIRCUIT_HALF_OPEN if state == "half_open" else CIRCUIT_CLOSED


def instance_keys(instance: InstanceConfig) -> list[str]:
    """The keys the script reads for one instance, in its order."""
    lists = [queue_key(instance.queue, p) for p in range(MAX_PRIORITY + 1)]
    return [
        *lists,
        keys.limit(instance.name, "inflight"),
        keys.limit(instance.name, "deferred"),
        keys.limit(instance.name, "waiting:until"),
        keys.circuit(instance.name),
    ]


class ClusterMetrics(Collector):
    """Backlog, in-flight calls and circuit state per instance, live workers per queue,
    dead-lettered webhooks. Labels are configured names only."""

    def __init__(
        self, redis: Redis, instances: Iterable[InstanceConfig], heartbeat_seconds: float
    ) -> None:
        self._instances = list(instances)
        self._fresh_seconds = 3 * heartbeat_seconds
        self._queues = sorted({i.queue for i in self._instances} | {TOOLS_QUEUE, WEBHOOKS_QUEUE})
        self._script = register(redis, "api/scripts/cluster_metrics.lua")
        self._keys = [keys.DEFERRED, keys.WORKERS, keys.WEBHOOKS_DEAD]
        for instance in self._instances:
            self._keys.extend(instance_keys(instance))
        self._per_instance = len(instance_keys(self._instances[0])) if self._instances else 0
        self.snapshot: ClusterSnapshot | None = None

    async def refresh(self) -> ClusterSnapshot | None:
        """Read the figures; None (and no cluster gauges in the scrape) if Redis is down:
        a scrape still gets the process's own metrics."""
        fresh_after = time.time() - self._fresh_seconds
        try:
            reply = await self._script(
                keys=self._keys, args=[self._per_instance, repr(fresh_after), OVERDUE_CHECK_MS]
            )
        except (RedisError, OSError) as exc:
            log.warning("cluster_metrics_unavailable", error=type(exc).__name__)
            self.snapshot = None
            return None
        dead, members, rows = reply
        figures = {
            inst.name: InstanceFigures(
                queued=int(row[0]),
                deferred=int(row[1]),
                waiting=int(row[2]),
                in_flight=int(row[3]),
                circuit=circuit_value(text(row[4]), int(row[5])),
            )
            for inst, row in zip(self._instances, rows, strict=True)
        }
        alive = dict.fromkeys(self._queues, 0)
        for member in members:
            # A worker is counted once per queue it consumes; unknown queues are left out.
            for queue in keys.worker_queues(member):
                if queue in alive:
                    alive[queue] += 1
        self.snapshot = ClusterSnapshot(figures, alive, int(dead))
        return self.snapshot

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families(None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.snapshot is not None:
            yield from self._families(self.snapshot)

    def _families(self, snap: ClusterSnapshot | None) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "llm_gateway_backlog",
            "Jobs waiting to run per provider instance: queued + waiting for capacity + "
            "deferred retries (cluster-wide, from Redis)",
            labels=["instance"],
        )
        waiting = GaugeMetricFamily(
            "llm_gateway_waiting_for_capacity",
            "Jobs in an instance's limiter waiting line (part of the backlog)",
            labels=["instance"],
        )
        in_flight = GaugeMetricFamily(
            "llm_gateway_in_flight",
            "Provider calls running now per instance (live limiter leases)",
            labels=["instance"],
        )
        circuit = GaugeMetricFamily(
            "llm_gateway_circuit_state",
            "Circuit breaker per instance: 0 closed, 1 half-open, 2 open",
            labels=["instance"],
        )
        workers = GaugeMetricFamily(
            "llm_gateway_workers_alive",
            "Worker processes with a fresh heartbeat consuming each queue",
            labels=["queue"],
        )
        dead = GaugeMetricFamily(
            "llm_gateway_webhook_dead_letters", "Webhook deliveries that were dead-lettered"
        )
        if snap is not None:
            for name, fig in snap.instances.items():
                backlog.add_metric([name], fig.backlog)
                waiting.add_metric([name], fig.waiting)
                in_flight.add_metric([name], fig.in_flight)
                circuit.add_metric([name], fig.circuit)
            for queue, count in snap.workers_alive.items():
                workers.add_metric([queue], count)
            dead.add_metric([], snap.webhook_dead_letters)
        yield from (backlog, waiting, in_flight, circuit, workers, dead)
