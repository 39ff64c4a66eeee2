"""The storage API (``/-s3/{route}/...``): upload, download, list, delete and presign objects
in the store a route names, for the calling tenant only (``storage.access``).

The stores' SDKs block, so every call to one runs in the storage threads
(``Settings.storage_threads``), never on the event loop. Bodies are streamed both ways: an
upload goes to the store as it arrives (``api.upload_pipe``), a download goes to the client
as the store sends it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from api.deps import Services, Tenant
from api.responses import ClosingStreamingResponse
from api.schemas.errors import AUTHENTICATED, error_responses
from api.schemas.storage import (
    DeletedObject,
    ListedObject,
    ObjectList,
    PresignedUrlReply,
    StoredObjectReply,
)
from api.upload_pipe import UploadPipe
from gateway.errors import GatewayError, InvalidRequest, StorageFailed
from storage.access import tenant_prefix
from storage.backends.base import ObjectStore
from storage.presign import Operation, PresignedUrl, checked_ttl, parse_operation, utc_now
from storage.routes import StorageRoute

router = APIRouter(prefix="/-s3", tags=["storage"])

T = TypeVar("T")
# Every storage route can answer these: a bad key or TTL, a refused bucket or prefix, an
# unknown route or object, a store that is down or refuses.
_ERRORS = error_responses(*AUTHENTICATED, 400, 403, 404, 422, 502)


async def _blocking(services: Services, call: Callable[..., T], *args: object) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(services.storage.executor, functools.partial(call, *args))


async def _store(services: Services, route: StorageRoute) -> ObjectStore:
    # Built on first use: an SDK import and a credential lookup, both blocking.
    return await _blocking(services, route.store)


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


@router.put(
    "/{route}/put/{bucket}/{key:path}",
    response_model=StoredObjectReply,
    responses=error_responses(*AUTHENTICATED, 400, 403, 404, 413, 502),
)
async def put_object(
    route: str, bucket: str, key: str, request: Request, tenant: Tenant, services: Services
) -> StoredObjectReply:
    """Store the request body as the object, streamed to the store; Content-Type is kept."""
    found = services.storage.route(route)
    ref = found.policy.object_ref(tenant, bucket, key)
    store = await _store(services, found)
    body = request.stream().__aiter__()
    first = b""
    try:
        with contextlib.suppress(StopAsyncIteration):
            while not first:
                first = await body.__anext__()
    except Exception as exc:  # the client left, or the size limit's 413
        raise _body_error(exc) from exc
    if not first:
        raise InvalidRequest("the request body is empty: send the object's bytes", param="body")
    content_type = request.headers.get("content-type") or "application/octet-stream"
    pipe = UploadPipe(
        asyncio.get_running_loop(), idle_seconds=services.settings.storage_upload_idle_seconds
    )
    feeder = asyncio.create_task(pipe.feed(first, body))
    try:
        stored = await _blocking(
            services, store.put, ref.bucket, ref.stored_key, pipe, content_type
        )
    except Exception:
        # The store gave up because the body did: answer with why the body failed.
        if pipe.failed:
            raise _body_error(pipe.error) from pipe.error
        raise
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
    if not pipe.exhausted:
        # The SDK took a short read for the end: what it stored is not the whole body.
        with contextlib.suppress(GatewayError):
            await _blocking(services, store.delete, ref.bucket, ref.stored_key)
        raise StorageFailed("the store stopped reading before the body ended; nothing was kept")
    return StoredObjectReply(bucket=bucket, key=key, size=stored.size, etag=stored.etag)


def _body_error(error: BaseException | None) -> GatewayError:
    if isinstance(error, GatewayError):
        return error  # the size limit's 413 (api.middleware)
    if isinstance(error, ClientDisconnect):
        return InvalidRequest("the client went away before the whole body arrived")
    return InvalidRequest("the request body could not be read", param="body")


@router.get(
    "/{route}/get/{bucket}/{key:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **_ERRORS},
)
async def get_object(
    route: str, bucket: str, key: str, tenant: Tenant, services: Services
) -> StreamingResponse:
    """The object's bytes, streamed as the store sends them, with its Content-Type,
    Content-Length and ETag."""
    found = services.storage.route(route)
    ref = found.policy.object_ref(tenant, bucket, key)
    store = await _store(services, found)
    download = await _blocking(services, store.get, ref.bucket, ref.stored_key)
    info = download.info

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            chunk = await _blocking(services, next, download.chunks, None)
            if chunk is None:
                return
            yield chunk

    async def close() -> None:
        await _blocking(services, download.close)

    headers = {
        # Set as stored: Starlette's media_type would append a charset to text types.
        "content-type": info.content_type or "application/octet-stream",
        "content-length": str(info.size),
        "etag": f'"{info.etag}"',
    }
    return ClosingStreamingResponse(chunks(), headers, on_close=close)


@router.get("/{route}/list/{bucket}", response_model=ObjectList, responses=_ERRORS)
async def list_objects(
    route: str,
    bucket: str,
    tenant: Tenant,
    services: Services,
    prefix: str = "",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> ObjectList:
    """The caller's objects whose keys start with ``prefix``, one page at a time."""
    found = services.storage.route(route)
    stored_prefix = found.policy.list_prefix(tenant, bucket, prefix)
    store = await _store(services, found)
    page = await _blocking(services, store.list, bucket, stored_prefix, cursor or None, limit)
    root = tenant_prefix(tenant)
    objects = [
        ListedObject(
            key=item.key[len(root) :],
            size=item.size,
            etag=item.etag,
            last_modified=_timestamp(item.last_modified),
        )
        for item in page.objects
        if item.key.startswith(root) and not found.policy.denied(item.key[len(root) :])
    ]
    return ObjectList(bucket=bucket, prefix=prefix, objects=objects, next_cursor=page.next_cursor)


@router.delete(
    "/{route}/delete/{bucket}/{key:path}", response_model=DeletedObject, responses=_ERRORS
)
async def delete_object(
    route: str, bucket: str, key: str, tenant: Tenant, services: Services
) -> DeletedObject:
    found = services.storage.route(route)
    ref = found.policy.object_ref(tenant, bucket, key)
    store = await _store(services, found)
    await _blocking(services, store.delete, ref.bucket, ref.stored_key)
    return DeletedObject(bucket=bucket, key=key)


@router.get(
    "/{route}/presign/{bucket}/{key:path}", response_model=PresignedUrlReply, responses=_ERRORS
)
async def presign_object(
    route: str,
    bucket: str,
    key: str,
    tenant: Tenant,
    services: Services,
    ttl: int | None = None,
    operation: str = "get",
) -> PresignedUrlReply:
    """A URL that GETs (``operation=get``) or PUTs (``operation=put``) the object without an
    API key for ``ttl`` seconds (the route's ``presign`` bounds; its default without one)."""
    found = services.storage.route(route)
    ref = found.policy.object_ref(tenant, bucket, key)
    op = parse_operation(operation)
    seconds = checked_ttl(ttl, found.config.presign)
    store = await _store(services, found)
    if op is Operation.GET:
        # A URL to nothing (or to another tenant's key) is a 404 now, not a 404 later.
        await _blocking(services, store.head, ref.bucket, ref.stored_key)
    now = utc_now()
    url = await _blocking(services, store.presign, ref.bucket, ref.stored_key, op, seconds)
    signed = PresignedUrl.signed_now(url, op, seconds, now)
    return PresignedUrlReply(
        url=signed.url,
        expires_in=signed.expires_in,
        expires_at=_timestamp(signed.expires_at) or "",
        operation=signed.operation.value,
        bucket=bucket,
        key=key,
    )
