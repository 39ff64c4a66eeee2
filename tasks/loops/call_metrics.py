"""``CallMetrics``: one worker process's Prometheus metrics of its provider calls, limiter
waits, retries and fallbacks, on a registry of its own. The worker serves them on
``LLM_GATEWAY_WORKER_METRICS_PORT`` (``workers.runtime``); ``ModelCalls`` observes them.

Labels stay bounded: instances are configured names, a model is a name configured on its
instance (anything else, e.g. a pattern match or a discovered model, is ``other``), an
error type is one of ``gateway.errors``' types, and a limit is one of the limiter's reasons.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from providers.config import InstanceConfig

# Model calls take from tens of milliseconds (embeddings, cached prompts) to minutes.
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30)
WAIT_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60)
OTHER_MODEL = "other"


def model_label(instance: InstanceConfig, model: str) -> str:
    """``model`` if it is configured on ``instance``, else ``other``."""
    if model in instance.models or model in instance.embedding_models:
        return model
    return OTHER_MODEL


class CallMetrics:
    """The process's call metrics (thread-safe: prometheus-client metrics are)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.call_seconds = Histogram(
            "llm_gateway_provider_call_seconds",
            "Provider call duration by instance, model and outcome (ok, or the error type)",
            ["instance", "model", "outcome"],
            buckets=CALL_BUCKETS,
            registry=self.registry,
        )
        self.ttft_seconds = Histogram(
            "llm_gateway_time_to_first_token_seconds",
            "Streamed calls: time from the call to the provider's first event",
            ["instance", "model"],
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "llm_gateway_provider_retries",
            "Jobs backed off to try an instance again after a failure",
            ["instance"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "llm_gateway_fallbacks",
            "Jobs moved from one instance to a fallback",
            ["from_instance", "to_instance"],
            registry=self.registry,
        )
        self.errors = Counter(
            "llm_gateway_provider_errors",
            "Provider calls that failed, by error type",
            ["instance", "error_type"],
            registry=self.registry,
        )
        self.limiter_wait = Histogram(
            "llm_gateway_limiter_wait_seconds",
            "Capacity waits: seconds a call slept in its worker slot before admission (0 = "
            "admitted at once), or the delay a job was handed back for",
            ["instance"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.limiter_rejections = Counter(
            "llm_gateway_limiter_rejections",
            "Limiter answers of 'not now', by the limit that said so",
            ["instance", "limit"],
            registry=self.registry,
        )

    def call(self, instance: InstanceConfig, model: str, outcome: str, seconds: float) -> None:
        self.call_seconds.labels(instance.name, model_label(instance, model), outcome).observe(
            seconds
        )

    def first_token(self, instance: InstanceConfig, model: str, seconds: float) -> None:
        self.ttft_seconds.labels(instance.name, model_label(instance, model)).observe(seconds)
