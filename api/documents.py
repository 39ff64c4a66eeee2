"""The submission check of a request's ``document`` parts (docs/storage.md): a part naming
a stored object is judged for the caller's tenant by the storage routes' own rules — an
unknown route (404), a bucket not allowed or a denied prefix (403), an object the tenant
does not have (404, another tenant's included) — and a URL part must be a well-formed
http(s) URL. Any failure names the part (``messages[0].content[1]``) and nothing is
enqueued. The worker checks the tenant's access again when it reads the object."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from api.services import ApiServices
from gateway.errors import GatewayError
from gateway.outbound import canonical_url
from tasks.jobs.record import JobRecord, JobType


def _document_sources(request: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(param, source) of every document part; the request was already parsed, so each
    part has a source of a known type."""
    found = []
    for i, message in enumerate(request.get("messages") or []):
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if isinstance(part, Mapping) and part.get("type") == "document":
                source = part.get("source")
                if isinstance(source, Mapping):
                    found.append((f"messages[{i}].content[{j}]", source))
    return found


async def check_documents(services: ApiServices, record: JobRecord) -> None:
    """Refuse a completion whose document parts cannot be read for its tenant."""
    if record.type is not JobType.COMPLETION:
        return
    for where, source in _document_sources(record.request):
        try:
            if source.get("type") == "url":
                canonical_url(str(source.get("url")), param=where)
            elif source.get("type") == "storage":
                await _check_object(services, record.tenant, source)
        except GatewayError as exc:
            raise type(exc)(f"{where}: {exc.message}", param=where) from None


async def _check_object(services: ApiServices, tenant: str, source: Mapping[str, Any]) -> None:
    route = services.storage.route(str(source.get("route")))
    ref = route.policy.object_ref(tenant, str(source.get("bucket")), str(source.get("key")))
    loop = asyncio.get_running_loop()
    # The store's SDK blocks: its calls run in the storage threads, as the storage routes'.
    store = await loop.run_in_executor(services.storage.executor, route.store)
    await loop.run_in_executor(services.storage.executor, store.head, ref.bucket, ref.stored_key)
