"""Google Cloud Storage through ``google-cloud-storage``.

Uploads are resumable uploads sent ``PART_BYTES`` at a time as the body arrives (a session
that never finishes creates no object); downloads read ranges of the object. Presigned
URLs are V4 signed URLs, signed with the service account's key, or through the IAM
signBlob API when the instance runs on Google's own identity (workload_identity)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from gateway.credentials import Credentials
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    ObjectNotFound,
    StorageFailed,
    StorageUnavailable,
)
from storage.backends.base import (
    DOWNLOAD_CHUNK_BYTES,
    PART_BYTES,
    BodyReader,
    ListPage,
    ObjectDownload,
    StoredObject,
)
from storage.config import StorageInstanceConfig
from storage.presign import Operation

T = TypeVar("T")
_SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]


def _info(blob: Any) -> StoredObject:
    return StoredObject(
        blob.name, int(blob.size or 0), str(blob.etag or ""), blob.content_type, blob.updated
    )


class GcsStore:
    def __init__(self, config: StorageInstanceConfig, credentials: Credentials) -> None:
        import google.auth
        from google.cloud import storage
        from google.oauth2 import service_account

        self.name = config.name
        self.endpoint_url = config.endpoint_url
        key_json = credentials.get("service_account_json")
        project = config.project
        if key_json:
            info = json.loads(key_json)
            self.credentials: Any = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=_SCOPES
            )
            project = project or info.get("project_id")
        else:
            self.credentials, found = google.auth.default(scopes=_SCOPES)
            project = project or found
        options = {"api_endpoint": config.endpoint_url} if config.endpoint_url else None
        self.client: Any = storage.Client(
            project=project, credentials=self.credentials, client_options=options
        )
        self.timeout = config.timeout_seconds

    def _call(self, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        import google.auth.exceptions
        import requests
        from google.api_core import exceptions as api

        message = f"storage instance {self.name!r}: {what} failed"
        try:
            return call(*args, **kwargs)
        except api.NotFound as exc:
            raise ObjectNotFound() from exc
        except (api.ServerError, api.TooManyRequests) as exc:
            raise StorageUnavailable(f"{message}: {exc.code}") from exc
        except api.GoogleAPICallError as exc:
            raise StorageFailed(f"{message}: {exc.code}") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise StorageUnavailable(f"{message}: {type(exc).__name__}") from exc
        except google.auth.exceptions.GoogleAuthError as exc:
            error: GatewayError = StorageFailed(f"{message}: {type(exc).__name__}")
            raise error from exc

    def put(self, bucket: str, key: str, body: BodyReader, content_type: str) -> StoredObject:
        blob = self.client.bucket(bucket).blob(key, chunk_size=PART_BYTES)
        try:
            self._call(
                "upload",
                blob.upload_from_file,
                body,
                content_type=content_type,
                timeout=self.timeout,
            )
        except ObjectNotFound as exc:
            # Nothing to find on an upload but the bucket: the store's setup, not the caller.
            raise StorageFailed(
                f"storage instance {self.name!r}: upload failed: bucket not found"
            ) from exc
        return StoredObject(key, int(blob.size or 0), str(blob.etag or ""), content_type)

    def head(self, bucket: str, key: str) -> StoredObject:
        blob = self._call("head", self.client.bucket(bucket).get_blob, key, timeout=self.timeout)
        if blob is None:
            raise ObjectNotFound()
        return _info(blob)

    def get(self, bucket: str, key: str) -> ObjectDownload:
        blob = self._call(
            "download", self.client.bucket(bucket).get_blob, key, timeout=self.timeout
        )
        if blob is None:
            raise ObjectNotFound()
        info = _info(blob)
        # Ranged reads of this generation of the object, one chunk at a time.
        reader = self._call("download", blob.open, "rb", chunk_size=DOWNLOAD_CHUNK_BYTES)

        def chunks() -> Iterator[bytes]:
            while True:
                data: bytes = self._call("download", reader.read, DOWNLOAD_CHUNK_BYTES)
                if not data:
                    return
                yield data

        return ObjectDownload(info, chunks(), reader.close)

    def list(self, bucket: str, prefix: str, cursor: str | None, limit: int) -> ListPage:
        def first_page() -> tuple[list[Any], str | None]:
            listing = self.client.list_blobs(
                bucket,
                prefix=prefix or None,
                max_results=limit,
                page_token=cursor,
                timeout=self.timeout,
            )
            page = next(listing.pages, None)
            items = list(page) if page is not None else []
            return items, listing.next_page_token

        try:
            items, token = self._call("list", first_page)
        except StorageFailed as exc:
            if cursor:
                raise InvalidRequest("the cursor is not valid", param="cursor") from exc
            raise
        return ListPage([_info(item) for item in items], token or None)

    def delete(self, bucket: str, key: str) -> None:
        self._call("delete", self.client.bucket(bucket).delete_blob, key, timeout=self.timeout)

    def close(self) -> None:
        self.client.close()

    def presign(self, bucket: str, key: str, operation: Operation, ttl: int) -> str:
        import google.auth.credentials
        import google.auth.transport.requests

        blob = self.client.bucket(bucket).blob(key)
        options: dict[str, Any] = {}
        if self.endpoint_url:
            options["api_access_endpoint"] = self.endpoint_url
        if not isinstance(self.credentials, google.auth.credentials.Signing):
            # Workload identity holds no private key: IAM signs for the service account.
            self._call(
                "presign", self.credentials.refresh, google.auth.transport.requests.Request()
            )
            options["service_account_email"] = self.credentials.service_account_email
            options["access_token"] = self.credentials.token
        url: str = self._call(
            "presign",
            blob.generate_signed_url,
            version="v4",
            expiration=timedelta(seconds=ttl),
            method=operation.method,
            credentials=self.credentials,
            **options,
        )
        return url
