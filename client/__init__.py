"""A typed Python client for llm-gateway: jobs, chat completions, batches, webhooks and
usage."""

from client.errors import GatewayClientError, GatewayUnreachable
from client.gateway_client import GatewayClient, parse_batch_result
from client.models import (
    Batch,
    BatchResult,
    Citation,
    DeliveryAttempt,
    Document,
    EnhancementResult,
    Job,
    JobSummary,
    Pipeline,
    RequestCounts,
    Review,
    Validation,
    ValidationCheck,
    Webhook,
    WebhookDelivery,
)
from client.usage import UsageReport

__all__ = [
    "Batch",
    "BatchResult",
    "Citation",
    "DeliveryAttempt",
    "Document",
    "EnhancementResult",
    "GatewayClient",
    "GatewayClientError",
    "GatewayUnreachable",
    "Job",
    "JobSummary",
    "Pipeline",
    "RequestCounts",
    "Review",
    "UsageReport",
    "Validation",
    "ValidationCheck",
    "Webhook",
    "WebhookDelivery",
    "parse_batch_result",
]
