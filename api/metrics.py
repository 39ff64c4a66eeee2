"""Prometheus metrics for the API process, on a registry of its own (no global default).

Two kinds on one ``/metrics``: this process's HTTP layer, and the cluster-wide gauges
(``api.cluster_metrics``), read from Redis at scrape time, so every process reports the
same ones.

Several API processes behind one port (``llm-gateway api --workers N``) share their HTTP
metrics through prometheus-client's multiprocess mode: the command points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory, each process keeps its values in files
there, and a scrape of any one of them sums every process's (docs/observability.md)."""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from api.cluster_metrics import ClusterMetrics
from api.usage_metrics import UsageCollector

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROC_DIR_VARIABLE", "ApiMetrics"]

# prometheus-client's switch into multiprocess mode (read when it is imported).
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class ApiMetrics:
    """Request and job counters; labels are bounded (route templates, not raw paths)."""

    def __init__(
        self, cluster: ClusterMetrics | None = None, waiter_count: Callable[[], int] = lambda: 0
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cluster = cluster
        self._waiter_count = waiter_count
        multiproc_dir = os.environ.get(MULTIPROC_DIR_VARIABLE)
        # What a scrape renders: this registry, or, with several processes, every process's
        # values from their files plus the cluster gauges.
        self._exposed = self.registry
        if multiproc_dir:
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=multiproc_dir)  # type: ignore[no-untyped-call]
        if cluster is not None:
            self._exposed.register(cluster)
        # Cluster-wide usage counters from Redis (``refresh`` before ``render``): on the
        # exposed registry, so several processes do not each add them to a sum.
        self.usage = UsageCollector()
        self._exposed.register(self.usage)
        self.requests = Counter(
            "llm_gateway_http_requests_total",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llm_gateway_http_request_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        # The children of ``requests`` and ``latency`` by (method, route, status): bounded
        # as the labels are.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.jobs_submitted = Counter(
            "llm_gateway_jobs_submitted_total",
            "Jobs accepted, by type and provider instance",
            ["type", "provider"],
            registry=self.registry,
        )
        self.heavy_lane = Counter(
            "llm_gateway_heavy_lane_requests_total",
            "Large requests handed to the sibling process (forwarded), handled here because "
            "it was unreachable (fallback), or lost with it after it took them (failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.waiters = Gauge(
            "llm_gateway_waiters",
            "Clients currently waiting on a job",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._multiprocess = bool(multiproc_dir)
        if not self._multiprocess:
            self.waiters.set_function(waiter_count)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            # ``labels`` checks and locks on every call: each label set is looked up once.
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if self._multiprocess:
            # A callback cannot be read from another process's files: the value is written
            # as each request ends (a waiter's own request ends right after it stops waiting).
            self.waiters.set(self._waiter_count())

    def close(self) -> None:
        """At this process's exit: with several processes, its live gauge (waiters) leaves
        the sum."""
        if self._multiprocess:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    @staticmethod
    def process_gone(pid: int) -> None:
        """Another process of this API (the heavy-lane sibling) died without ``close``: its
        live gauge leaves the sum."""
        if os.environ.get(MULTIPROC_DIR_VARIABLE):
            mark_process_dead(pid)  # type: ignore[no-untyped-call]

    async def render(self) -> bytes:
        """The exposition, with the cluster figures read just now."""
        if self.cluster is not None:
            await self.cluster.refresh()
        # No await between the read and the rendering: a concurrent scrape cannot swap the
        # snapshot in between.
        return generate_latest(self._exposed)
