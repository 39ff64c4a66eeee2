"""The client's models read what the API documents: each one names exactly the fields of
its OpenAPI component, and its status values are the document's. A field added to or
renamed in ``api.schemas`` fails here until ``client.models`` follows."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import BaseModel

from api.main import create_app
from client.models import (
    Batch,
    BatchResult,
    BatchStatus,
    DeliveryAttempt,
    Job,
    JobStatus,
    JobSummary,
    Pipeline,
    RequestCounts,
    ResultStatus,
    Webhook,
    WebhookDelivery,
)
from client.usage import UsageBudget, UsageGroup, UsageLimits, UsageReport, UsageTotals

# Client model → the component schema of the body (or part of one) it reads.
COUNTERPARTS: dict[type[BaseModel], str] = {
    Job: "Job",
    JobSummary: "JobSummary",
    Batch: "Batch",
    RequestCounts: "RequestCounts",
    BatchResult: "BatchResultLine",
    Webhook: "WebhookStatus",
    WebhookDelivery: "WebhookDelivery",
    DeliveryAttempt: "DeliveryAttempt",
    Pipeline: "PipelineProgress",
    UsageReport: "UsageReport",
    UsageTotals: "UsageTotals",
    UsageGroup: "UsageGroup",
    UsageBudget: "UsageBudget",
    UsageLimits: "UsageLimits",
}


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    schemas: dict[str, Any] = create_app().openapi()["components"]["schemas"]
    return schemas


@pytest.mark.parametrize("model", list(COUNTERPARTS), ids=lambda m: m.__name__)
def test_the_client_model_names_exactly_the_documented_fields(
    model: type[BaseModel], components: dict[str, Any]
) -> None:
    documented = set(components[COUNTERPARTS[model]]["properties"])
    assert set(model.model_fields) == documented


@pytest.mark.parametrize(
    ("component", "statuses"),
    [
        ("Job", JobStatus),
        ("JobSummary", JobStatus),
        ("Batch", BatchStatus),
        ("BatchResultLine", ResultStatus),
    ],
    ids=["Job", "JobSummary", "Batch", "BatchResultLine"],
)
def test_the_client_knows_every_documented_status(
    component: str, statuses: Any, components: dict[str, Any]
) -> None:
    assert set(get_args(statuses)) == set(components[component]["properties"]["status"]["enum"])
