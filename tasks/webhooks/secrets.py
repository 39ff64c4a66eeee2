"""Per-tenant webhook signing secrets (Standard Webhooks ``whsec_<base64>`` form).

A tenant's secrets are the ones listed for it in ``LLM_GATEWAY_WEBHOOK_SECRETS`` (listed
twice while rotating: every delivery is signed with both, so receivers can switch over),
or else one derived from ``LLM_GATEWAY_WEBHOOK_SIGNING_KEY`` — HMAC-SHA256 of the tenant
name — so operators need not hand-issue a secret per tenant. A tenant with neither cannot
ask for webhooks (400 at submission).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from gateway.errors import InvalidRequest
from gateway.settings import Settings

_PREFIX = "whsec_"


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """Which secrets sign a tenant's webhooks."""

    listed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    signing_key: bytes | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSecrets:
        """Parse and check the configured secrets; a malformed one is a ``ValueError``."""
        listed: dict[str, list[str]] = {}
        for raw in settings.webhook_secrets.get_secret_value().split(","):
            entry = raw.strip()
            if not entry:
                continue
            tenant, sep, secret = entry.partition(":")
            if not sep or not tenant or not secret.startswith(_PREFIX):
                raise ValueError(
                    "LLM_GATEWAY_WEBHOOK_SECRETS entries must look like tenant:whsec_<base64>"
                )
            try:
                Webhook(secret)
            except (ValueError, EmptyWebhookSecretError):
                raise ValueError(
                    f"the webhook secret for tenant {tenant!r} is not valid base64"
                ) from None
            listed.setdefault(tenant, []).append(secret)
        key = settings.webhook_signing_key
        return cls(
            listed={t: tuple(s) for t, s in listed.items()},
            signing_key=key.get_secret_value().encode() if key else None,
        )

    def for_tenant(self, tenant: str) -> tuple[str, ...]:
        """The tenant's secrets, newest last; empty when webhooks are not set up for it."""
        if tenant in self.listed:
            return self.listed[tenant]
        if self.signing_key:
            digest = hmac.new(
                self.signing_key, b"llm-gateway webhook secret:" + tenant.encode(), hashlib.sha256
            ).digest()
            return (_PREFIX + base64.b64encode(digest).decode(),)
        return ()

    def require(self, tenant: str, param: str = "webhook") -> None:
        """400 unless the tenant's webhooks can be signed."""
        if not self.for_tenant(tenant):
            raise InvalidRequest(
                "webhooks are not configured for this tenant (no signing secret); ask the "
                "operator to set LLM_GATEWAY_WEBHOOK_SECRETS or LLM_GATEWAY_WEBHOOK_SIGNING_KEY",
                param=param,
            )
