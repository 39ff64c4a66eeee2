"""Amazon S3 and S3-compatible stores (MinIO, moto) through ``boto3``.

Uploads are streamed: a body smaller than one part is one ``PutObject``; a larger one is a
multipart upload of ``PART_BYTES`` parts sent one after the other, so an upload holds one
part in memory whatever the object's size, and a body that fails half-way aborts the
upload (nothing is created). URLs are signed with SigV4 (``X-Amz-Expires``)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
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

_MISSING = {"NoSuchKey", "NotFound", "404"}
_UNAVAILABLE = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


def read_part(body: BodyReader, size: int) -> bytes:
    """Up to ``size`` bytes of ``body``: fewer only at its end. One read when the body
    reads like a file (whole reads, as ``api.upload_pipe`` does): no copy of the part."""
    part = body.read(size)
    while 0 < len(part) < size:
        more = body.read(size - len(part))
        if not more:
            break
        part += more
    return part


def _etag(value: object) -> str:
    return str(value or "").strip('"')


class S3Store:
    def __init__(self, config: StorageInstanceConfig, credentials: Credentials) -> None:
        import boto3
        from botocore.config import Config

        self.name = config.name
        session = boto3.session.Session(
            aws_access_key_id=credentials.get("access_key_id"),
            aws_secret_access_key=credentials.get("secret_access_key"),
            aws_session_token=credentials.get("session_token"),
            region_name=config.region or "us-east-1",
        )
        self.client: Any = session.client(
            "s3",
            endpoint_url=config.endpoint_url,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": config.addressing_style},
                connect_timeout=min(config.timeout_seconds, 10.0),
                read_timeout=config.timeout_seconds,
                retries={"mode": "standard", "max_attempts": 3},
                # Threads uploading and downloading at once share one client.
                max_pool_connections=64,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _call(self, what: str, call: Callable[..., T], **params: Any) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call(**params)
        except ClientError as exc:
            raise self._translate(what, exc) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(
                f"storage instance {self.name!r}: {what} failed: {type(exc).__name__}"
            ) from exc

    def _translate(self, what: str, exc: Any) -> GatewayError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _MISSING:
            return ObjectNotFound()
        message = f"storage instance {self.name!r}: {what} failed: {code or status}"
        if code in _UNAVAILABLE or status >= 500:
            return StorageUnavailable(message)
        return StorageFailed(message)

    def put(self, bucket: str, key: str, body: BodyReader, content_type: str) -> StoredObject:
        first = read_part(body, PART_BYTES)
        if len(first) < PART_BYTES:
            reply = self._call(
                "upload",
                self.client.put_object,
                Bucket=bucket,
                Key=key,
                Body=first,
                ContentType=content_type,
            )
            return StoredObject(key, len(first), _etag(reply.get("ETag")), content_type)
        # ``pending`` holds the only reference to the first part, and the loop drops each
        # part before reading the next: one part in memory at a time.
        pending = [first]
        del first
        return self._multipart(bucket, key, pending, body, content_type)

    def _multipart(
        self, bucket: str, key: str, pending: list[bytes], body: BodyReader, content_type: str
    ) -> StoredObject:
        created = self._call(
            "upload",
            self.client.create_multipart_upload,
            Bucket=bucket,
            Key=key,
            ContentType=content_type,
        )
        upload_id = created["UploadId"]
        try:
            sent: list[dict[str, Any]] = []
            size = 0
            for number in itertools.count(1):
                part = pending.pop() if pending else read_part(body, PART_BYTES)
                if not part:
                    break
                reply = self._call(
                    "upload",
                    self.client.upload_part,
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=part,
                )
                sent.append({"ETag": reply["ETag"], "PartNumber": number})
                size += len(part)
                del part
            done = self._call(
                "upload",
                self.client.complete_multipart_upload,
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": sent},
            )
        except BaseException:
            # A body that failed half-way (too large, client gone) or a failed part: the
            # parts already sent are dropped, and no object appears.
            with contextlib.suppress(GatewayError):
                self._call(
                    "abort upload",
                    self.client.abort_multipart_upload,
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                )
            raise
        return StoredObject(key, size, _etag(done.get("ETag")), content_type)

    def head(self, bucket: str, key: str) -> StoredObject:
        reply = self._call("head", self.client.head_object, Bucket=bucket, Key=key)
        return StoredObject(
            key,
            int(reply.get("ContentLength", 0)),
            _etag(reply.get("ETag")),
            reply.get("ContentType"),
            reply.get("LastModified"),
        )

    def get(self, bucket: str, key: str) -> ObjectDownload:
        reply = self._call("download", self.client.get_object, Bucket=bucket, Key=key)
        stream = reply["Body"]
        info = StoredObject(
            key,
            int(reply.get("ContentLength", 0)),
            _etag(reply.get("ETag")),
            reply.get("ContentType"),
            reply.get("LastModified"),
        )
        chunks: Iterator[bytes] = stream.iter_chunks(DOWNLOAD_CHUNK_BYTES)
        return ObjectDownload(info, chunks, stream.close)

    def list(self, bucket: str, prefix: str, cursor: str | None, limit: int) -> ListPage:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
        if cursor:
            params["ContinuationToken"] = cursor
        try:
            reply = self._call("list", self.client.list_objects_v2, **params)
        except StorageFailed as exc:
            if cursor:
                raise InvalidRequest("the cursor is not valid", param="cursor") from exc
            raise
        objects = [
            StoredObject(
                item["Key"],
                int(item.get("Size", 0)),
                _etag(item.get("ETag")),
                None,
                item.get("LastModified"),
            )
            for item in reply.get("Contents", [])
        ]
        return ListPage(objects, reply.get("NextContinuationToken"))

    def delete(self, bucket: str, key: str) -> None:
        # S3 deletes idempotently and says nothing of what was there: look first, so a
        # missing object (or another tenant's) is a 404 like on every other operation.
        self.head(bucket, key)
        self._call("delete", self.client.delete_object, Bucket=bucket, Key=key)

    def close(self) -> None:
        self.client.close()

    def presign(self, bucket: str, key: str, operation: Operation, ttl: int) -> str:
        method = "get_object" if operation is Operation.GET else "put_object"
        url: str = self._call(
            "presign",
            self.client.generate_presigned_url,
            ClientMethod=method,
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=ttl,
        )
        return url
