"""Azure Blob Storage through ``azure-storage-blob``: a route's buckets are containers.

Uploads stage blocks as the body arrives (the SDK reads ``max_block_size`` at a time from a
stream of unknown length) and commit the block list at the end; a body that fails half-way
commits nothing. Presigned URLs are SAS tokens: signed with the account key, or with a
user delegation key when the instance runs on Azure's own identity (workload_identity)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from gateway.credentials import Credentials
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    ObjectNotFound,
    StorageFailed,
    StorageUnavailable,
)
from storage.backends.base import (
    PART_BYTES,
    BodyReader,
    ListPage,
    ObjectDownload,
    StoredObject,
)
from storage.config import StorageInstanceConfig
from storage.presign import Operation

T = TypeVar("T")
AZURE_GET_BYTES = 4 * 1024 * 1024


class _Counted:
    """``body`` as the SDK reads it, counting the bytes that went by."""

    def __init__(self, body: BodyReader) -> None:
        self.body = body
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.body.read(size)
        self.size += len(data)
        return data


def _etag(value: object) -> str:
    return str(value or "").strip('"')


class AzureBlobStore:
    def __init__(self, config: StorageInstanceConfig, credentials: Credentials) -> None:
        from azure.storage.blob import BlobServiceClient

        assert config.endpoint_url
        self.name = config.name
        self.account_url = config.endpoint_url.rstrip("/")
        self.account_key = credentials.get("account_key")
        self.account_name = credentials.get("account_name") or _account_from_url(self.account_url)
        credential: Any
        if self.account_key:
            credential = {"account_name": self.account_name, "account_key": self.account_key}
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.service: Any = BlobServiceClient(
            self.account_url,
            credential=credential,
            max_block_size=PART_BYTES,
            # A download's first request would fetch 32 MiB by default, held whole: ask for
            # parts of this size instead, so a download holds one part at a time.
            max_single_get_size=AZURE_GET_BYTES,
            max_chunk_get_size=AZURE_GET_BYTES,
            connection_timeout=min(config.timeout_seconds, 10.0),
            read_timeout=config.timeout_seconds,
        )

    def _call(self, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        from azure.core.exceptions import (
            AzureError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        message = f"storage instance {self.name!r}: {what} failed"
        try:
            return call(*args, **kwargs)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                raise StorageFailed(f"{message}: ContainerNotFound") from exc
            raise ObjectNotFound() from exc
        except HttpResponseError as exc:
            status = exc.status_code or 0
            code = getattr(exc, "error_code", None) or status
            error: GatewayError = (
                StorageUnavailable(f"{message}: {code}")
                if status >= 500
                else StorageFailed(f"{message}: {code}")
            )
            raise error from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise StorageUnavailable(f"{message}: {type(exc).__name__}") from exc
        except AzureError as exc:
            raise StorageFailed(f"{message}: {type(exc).__name__}") from exc

    def put(self, bucket: str, key: str, body: BodyReader, content_type: str) -> StoredObject:
        from azure.storage.blob import ContentSettings

        blob = self.service.get_blob_client(container=bucket, blob=key)
        counted = _Counted(body)
        reply = self._call(
            "upload",
            blob.upload_blob,
            counted,
            overwrite=True,
            content_settings=ContentSettings(content_type=content_type),
            max_concurrency=1,
        )
        return StoredObject(key, counted.size, _etag(reply.get("etag")), content_type)

    def _info(self, key: str, props: Any) -> StoredObject:
        return StoredObject(
            key,
            int(props.size or 0),
            _etag(props.etag),
            props.content_settings.content_type if props.content_settings else None,
            props.last_modified,
        )

    def head(self, bucket: str, key: str) -> StoredObject:
        blob = self.service.get_blob_client(container=bucket, blob=key)
        return self._info(key, self._call("head", blob.get_blob_properties))

    def get(self, bucket: str, key: str) -> ObjectDownload:
        blob = self.service.get_blob_client(container=bucket, blob=key)
        downloader = self._call("download", blob.download_blob, max_concurrency=1)
        chunks: Iterator[bytes] = downloader.chunks()
        return ObjectDownload(self._info(key, downloader.properties), chunks)

    def list(self, bucket: str, prefix: str, cursor: str | None, limit: int) -> ListPage:
        container = self.service.get_container_client(bucket)

        def first_page() -> tuple[list[Any], str | None]:
            pages = container.list_blobs(
                name_starts_with=prefix or None, results_per_page=limit
            ).by_page(continuation_token=cursor)
            items = list(next(pages, []))
            return items, pages.continuation_token

        try:
            items, token = self._call("list", first_page)
        except StorageFailed as exc:
            if cursor:
                raise InvalidRequest("the cursor is not valid", param="cursor") from exc
            raise
        return ListPage([self._info(item.name, item) for item in items], token or None)

    def delete(self, bucket: str, key: str) -> None:
        blob = self.service.get_blob_client(container=bucket, blob=key)
        self._call("delete", blob.delete_blob)

    def close(self) -> None:
        self.service.close()

    def presign(self, bucket: str, key: str, operation: Operation, ttl: int) -> str:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        expiry = datetime.now(UTC) + timedelta(seconds=ttl)
        permission = (
            BlobSasPermissions(read=True)
            if operation is Operation.GET
            else BlobSasPermissions(create=True, write=True)
        )
        signing: dict[str, Any]
        if self.account_key:
            signing = {"account_key": self.account_key}
        else:
            # No account key: sign with a user delegation key from Azure AD (valid up to
            # seven days, like the URL it signs).
            delegation = self._call(
                "presign", self.service.get_user_delegation_key, datetime.now(UTC), expiry
            )
            signing = {"user_delegation_key": delegation}
        sas = generate_blob_sas(
            account_name=self.account_name,
            container_name=bucket,
            blob_name=key,
            permission=permission,
            expiry=expiry,
            **signing,
        )
        url: str = self.service.get_blob_client(container=bucket, blob=key).url
        return f"{url}?{sas}"


def _account_from_url(url: str) -> str:
    """The account an endpoint names: the host's first label on Azure
    (``acct.blob.core.windows.net``), the first path segment on an emulator
    (``http://127.0.0.1:10000/devstoreaccount1``)."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    if path:
        return path.split("/")[0]
    return (parts.hostname or "").split(".")[0]
