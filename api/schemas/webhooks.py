"""Webhooks: the URL a submission names, how its delivery is going, and the signing secrets."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl

from api.schemas.common import RequestModel, ResponseModel, Timestamp


class WebhookSpec(RequestModel):
    url: AnyHttpUrl


class DeliveryAttempt(ResponseModel):
    """One POST to the receiver: its status (null when it never answered) or error."""

    at: Timestamp
    status_code: int | None
    error: str | None
    duration_ms: float


class WebhookDelivery(ResponseModel):
    """The terminal event's delivery (``tasks.webhooks.deliveries``)."""

    status: Literal["pending", "delivered", "dead"]
    event: str | None
    attempts: list[DeliveryAttempt]
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None


class WebhookStatus(ResponseModel):
    """A job's or batch's webhook; ``delivery`` is null until the first attempt is due."""

    url: str | None
    delivery: WebhookDelivery | None


class WebhookSecret(ResponseModel):
    """``GET /v1/webhooks/secret``: verify a delivery with any of them, newest last."""

    object: Literal["webhook_secret"]
    secrets: list[str]
    scheme: Literal["standard-webhooks"]
