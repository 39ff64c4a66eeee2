"""The HTTP contract: every request and response body, by resource. The OpenAPI document
is generated from these models, so it names each of them; ``errors`` holds the one error
shape every route documents."""

from api.schemas.batches import (
    Batch,
    BatchCreate,
    BatchDocument,
    BatchList,
    BatchResultLine,
    RequestCounts,
)
from api.schemas.catalog import Model, ModelList, ModelPattern, ProviderInstance, ProviderList
from api.schemas.chat import ChatChoice, ChatCompletion, ChatCompletionRequest
from api.schemas.common import MetadataValue, ResponseModel
from api.schemas.embeddings import Embedding, EmbeddingCreate, EmbeddingList, EmbeddingUsage
from api.schemas.errors import ErrorBody, ErrorResponse, error_responses
from api.schemas.health import Health, Readiness, RedisDown
from api.schemas.jobs import (
    Job,
    JobCreate,
    JobList,
    JobSummary,
    PipelineProgress,
    ToolCallRecord,
    ToolLoopProgress,
)
from api.schemas.sessions import Session, SessionCreate, SessionUpdate
from api.schemas.tools import ServiceCircuit, Tool, ToolExecute, ToolList, ToolResult
from api.schemas.webhooks import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookSecret,
    WebhookSpec,
    WebhookStatus,
)

__all__ = [
    "Batch",
    "BatchCreate",
    "BatchDocument",
    "BatchList",
    "BatchResultLine",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionRequest",
    "DeliveryAttempt",
    "Embedding",
    "EmbeddingCreate",
    "EmbeddingList",
    "EmbeddingUsage",
    "ErrorBody",
    "ErrorResponse",
    "Health",
    "Job",
    "JobCreate",
    "JobList",
    "JobSummary",
    "MetadataValue",
    "Model",
    "ModelList",
    "ModelPattern",
    "PipelineProgress",
    "ProviderInstance",
    "ProviderList",
    "Readiness",
    "RedisDown",
    "RequestCounts",
    "ResponseModel",
    "ServiceCircuit",
    "Session",
    "SessionCreate",
    "SessionUpdate",
    "Tool",
    "ToolCallRecord",
    "ToolExecute",
    "ToolList",
    "ToolLoopProgress",
    "ToolResult",
    "WebhookDelivery",
    "WebhookSecret",
    "WebhookSpec",
    "WebhookStatus",
    "error_responses",
]
