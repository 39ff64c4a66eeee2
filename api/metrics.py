"""Prometheus metrics for the API process, on a registry of its own (no global default).

Two kinds on one ``/metrics``: this process's HTTP layer (counters and histograms kept in
memory, so per process: with several uvicorn workers a scrape sees the one that answered;
docs/observability.md), and the cluster-wide gauges (``api.cluster_metrics``), read from
Redis at scrape time, so every process reports the same ones."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api.cluster_metrics import ClusterMetrics

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics"]


class ApiMetrics:
    """Request and job counters; labels are bounded (route templates, not raw paths)."""

    def __init__(self, cluster: ClusterMetrics | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cluster = cluster
        if cluster is not None:
            self.registry.register(cluster)
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
        self.jobs_submitted = Counter(
            "llm_gateway_jobs_submitted_total",
            "Jobs accepted, by type and provider instance",
            ["type", "provider"],
            registry=self.registry,
        )
        self.waiters = Gauge(
            "llm_gateway_waiters", "Clients currently waiting on a job", registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    async def render(self) -> bytes:
        """The exposition, with the cluster figures read just now."""
        if self.cluster is not None:
            await self.cluster.refresh()
        # No await between the read and the rendering: a concurrent scrape cannot swap the
        # snapshot in between.
        return generate_latest(self.registry)
