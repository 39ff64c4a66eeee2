"""``/v1/webhooks``: what a receiver needs to verify the gateway's webhooks."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Services, Tenant
from api.schemas import WebhookSecret, error_responses
from gateway.errors import NotFound

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get("/secret", responses=error_responses(401, 404))
async def webhook_secret(tenant: Tenant, services: Services) -> WebhookSecret:
    """The caller's signing secrets (Standard Webhooks ``whsec_...``), newest last: verify
    a delivery with any of them (``standardwebhooks.Webhook(secret).verify``)."""
    secrets = services.webhook_secrets.for_tenant(tenant)
    if not secrets:
        raise NotFound("webhooks are not configured for this tenant", param=None)
    return WebhookSecret(object="webhook_secret", secrets=list(secrets), scheme="standard-webhooks")
