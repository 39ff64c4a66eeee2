"""Prometheus metrics for the API process, on a registry of its own (no global default)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api.usage_metrics import UsageCollector

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics"]


class ApiMetrics:
    """Request and job counters; labels are bounded (route templates, not raw paths)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        # Cluster-wide usage counters from Redis (``refresh`` before ``render``).
        self.usage = UsageCollector()
        self.registry.register(self.usage)
        self.waiters = Gauge(
            "llm_gateway_waiters", "Clients currently waiting on a job", registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
