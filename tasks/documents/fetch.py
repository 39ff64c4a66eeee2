"""Reading a document's bytes: from a URL through the SSRF-guarded client, or from a
storage route with the gateway's own credentials after the tenant's access check. Both
stop at the size limit; every failure is ``DocumentUnavailable`` (the resolver names the
part)."""

from __future__ import annotations

import mimetypes
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from gateway.errors import DocumentUnavailable, GatewayError, UrlNotAllowed
from gateway.outbound_http import overall_deadline
from storage.backends.base import StoredObject
from storage.routes import StorageRoute


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    media_type: str  # without parameters, lower case; "" when the source named none


def media_type_of(header: str | None, name: str) -> str:
    """The media type a header names, else the one ``name``'s extension suggests."""
    declared = (header or "").split(";")[0].strip().lower()[:100]
    if declared and declared not in ("application/octet-stream", "binary/octet-stream"):
        return declared
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None and name.lower().endswith((".md", ".markdown")):
        guessed = "text/markdown"
    return guessed or declared


def _too_large(max_bytes: int) -> DocumentUnavailable:
    return DocumentUnavailable(f"the document is larger than {max_bytes} bytes")


def fetch_url(client: httpx.Client, url: str, *, max_bytes: int) -> Fetched:
    """GET ``url`` (no redirects, no compression) within the client's read timeout overall."""
    seconds = client.timeout.read or float("inf")
    deadline = time.monotonic() + seconds
    headers = {"Accept-Encoding": "identity"}  # sizes are counted on the wire
    try:
        with (
            overall_deadline(seconds),
            client.stream("GET", url, headers=headers, follow_redirects=False) as response,
        ):
            status = response.status_code
            if not 200 <= status < 300:
                hint = "; redirects are not followed" if 300 <= status < 400 else ""
                hint = hint or ("; has the URL expired?" if status in (400, 403) else "")
                raise _unavailable(f"the server answered {status}{hint}")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding != "identity":
                raise _unavailable("compressed responses are not accepted")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _too_large(max_bytes)
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(max_bytes)
                if time.monotonic() > deadline:
                    raise _unavailable("timed out")
            media_type = media_type_of(response.headers.get("content-type"), urlsplit(url).path)
    except UrlNotAllowed as exc:
        raise DocumentUnavailable(f"the URL is not allowed: {exc.message}") from None
    except httpx.TimeoutException:
        raise _unavailable("timed out") from None
    except httpx.InvalidURL:
        raise _unavailable("the URL is invalid") from None
    except httpx.TransportError:  # refused, reset, bad HTTP
        raise _unavailable("connection failed") from None
    return Fetched(bytes(body), media_type)


def _unavailable(reason: str) -> DocumentUnavailable:
    return DocumentUnavailable(f"the document could not be fetched: {reason}")


def head_object(route: StorageRoute, tenant: str, bucket: str, key: str) -> StoredObject:
    """The tenant's object's metadata, after the route's access rules for the tenant
    (the same ``object_ref`` the storage API uses: bucket, denied prefixes, its prefix)."""
    try:
        ref = route.policy.object_ref(tenant, bucket, key)
        return route.store().head(ref.bucket, ref.stored_key)
    except GatewayError as exc:
        raise DocumentUnavailable(f"the stored document cannot be read: {exc.message}") from None


def read_object(
    route: StorageRoute, tenant: str, bucket: str, key: str, *, max_bytes: int
) -> Fetched:
    """The tenant's object's bytes, at most ``max_bytes`` of them."""
    try:
        ref = route.policy.object_ref(tenant, bucket, key)
        download = route.store().get(ref.bucket, ref.stored_key)
    except GatewayError as exc:
        raise DocumentUnavailable(f"the stored document cannot be read: {exc.message}") from None
    try:
        if download.info.size > max_bytes:
            raise _too_large(max_bytes)
        body = bytearray()
        for chunk in download.chunks:
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
    except GatewayError as exc:
        if isinstance(exc, DocumentUnavailable):
            raise
        raise DocumentUnavailable(f"the stored document cannot be read: {exc.message}") from None
    finally:
        download.close()
    return Fetched(bytes(body), media_type_of(download.info.content_type, key))
