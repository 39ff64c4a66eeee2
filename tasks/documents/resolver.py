"""The worker's document stage: before a completion job's first provider call, every
``document`` part of its prompt is read once (cache, else its source), checked (size,
type), its text extracted, and replaced by what the provider gets: the PDF itself as an
OpenAI ``file`` part where the instance takes documents (each adapter maps it to its
vendor's native block), else the text between ``<document>`` delimiters. The replaced
prompt goes into the job's checkpoint, so tool-loop turns and a re-delivered job do not
read the documents again.

A document that cannot be read fails the job with ``document_unavailable`` naming the
part (``messages[0].content[1]``)."""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.errors import DocumentUnavailable, GatewayError
from providers.document_parts import document_from_seed
from providers.types import DocumentPart
from storage.routes import StorageRoutes
from tasks.documents.cache import DocumentCache, ReadDocument, storage_material, url_material
from tasks.documents.extract import PDF, check_pdf, extract_text
from tasks.documents.fetch import Fetched, fetch_url, head_object, read_object

# The media types a provider that takes documents gets natively; the rest go as text.
NATIVE_TYPES = frozenset({PDF})


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_bytes: int
    allowed_types: frozenset[str]

    @classmethod
    def parse(cls, max_bytes: int, types: str) -> DocumentLimits:
        allowed = frozenset(t.strip().lower() for t in types.split(",") if t.strip())
        return cls(max_bytes, allowed)


def has_documents(messages: Iterable[Mapping[str, Any]]) -> bool:
    return any(
        isinstance(part, Mapping) and part.get("type") == "document"
        for m in messages
        if isinstance(m.get("content"), list)
        for part in m["content"]
    )


# A document's own ``</document>`` would end its delimited block early, and whatever
# followed would read as the caller's words, outside the document: it is written
# ``<\/document>`` instead (any case), which no reader takes for the closing line.
_CLOSING_TAG = re.compile(r"</(document)", re.IGNORECASE)


class DocumentResolver:
    """Reads documents for jobs: ``http`` reaches only what the outbound policy (plus the
    configured storage endpoints) allows; ``storage`` reads with the gateway's credentials."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        storage: StorageRoutes,
        cache: DocumentCache,
        limits: DocumentLimits,
    ) -> None:
        self.http = http
        self.storage = storage
        self.cache = cache
        self.limits = limits

    def resolve(
        self, tenant: str, messages: list[dict[str, Any]], *, native: bool
    ) -> list[dict[str, Any]]:
        """``messages`` with every document part replaced (``native``: the instance takes
        PDFs as documents). ``DocumentUnavailable`` names the first part that fails."""
        out: list[dict[str, Any]] = []
        index = 0
        for i, message in enumerate(messages):
            content = message.get("content")
            if not isinstance(content, list) or not has_documents([message]):
                out.append(message)
                continue
            parts: list[Any] = []
            for j, part in enumerate(content):
                if not (isinstance(part, Mapping) and part.get("type") == "document"):
                    parts.append(part)
                    continue
                index += 1
                where = f"messages[{i}].content[{j}]"
                try:
                    parts.append(self._replacement(tenant, part, where, index, native))
                except GatewayError as exc:
                    raise DocumentUnavailable(f"{where}: {exc.message}", param=where) from None
            out.append({**message, "content": parts})
        return out

    def _replacement(
        self, tenant: str, raw: Mapping[str, Any], where: str, index: int, native: bool
    ) -> dict[str, Any]:
        part = document_from_seed(raw, where)
        read = self.read(tenant, part, native=native)
        name = part.filename or _name_of(part) or f"document {index}"
        if native and read.media_type in NATIVE_TYPES and read.body is not None:
            data = base64.b64encode(read.body).decode()
            file = {"file_data": f"data:{read.media_type};base64,{data}", "filename": name}
            return {"type": "file", "file": file}
        attrs = f'index="{index}" name="{html.escape(name, quote=True)}"'
        body = _CLOSING_TAG.sub(r"<\\/\1", read.text or "")
        return {"type": "text", "text": f"<document {attrs}>\n{body}\n</document>"}

    def read(self, tenant: str, part: DocumentPart, *, native: bool) -> ReadDocument:
        """The document ``part`` names, from the cache or its source; its text extracted
        unless it goes to the provider natively (``native``: the instance takes PDFs)."""
        material: str | None = None
        fresh = True
        if part.data is not None:
            document = self._prepared(Fetched(self._decoded(part.data), part.media_type.lower()))
        elif part.storage is not None:
            ref = part.storage
            route = self.storage.route(ref.route)
            info = head_object(route, tenant, ref.bucket, ref.key)
            material = storage_material(ref.route, ref.bucket, ref.key, info.etag)
            cached = self.cache.get(tenant, material)
            fresh = cached is None
            document = cached or self._prepared(
                read_object(route, tenant, ref.bucket, ref.key, max_bytes=self.limits.max_bytes)
            )
        else:
            url = part.url or ""
            material = url_material(url)
            cached = self.cache.get(tenant, material)
            fresh = cached is None
            document = cached or self._prepared(
                fetch_url(self.http, url, max_bytes=self.limits.max_bytes)
            )
        if document.text is None and not (native and document.media_type in NATIVE_TYPES):
            text = extract_text(document.media_type, document.body or b"")
            document = ReadDocument(document.media_type, text, document.body)
            fresh = True  # the entry gains its text
        if material is not None and fresh:
            self.cache.put(tenant, material, document)
        return document

    def _decoded(self, data: str) -> bytes:
        try:
            body = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise DocumentUnavailable("the document is not valid base64") from None
        if len(body) > self.limits.max_bytes:
            raise DocumentUnavailable(f"the document is larger than {self.limits.max_bytes} bytes")
        return body

    def _prepared(self, fetched: Fetched) -> ReadDocument:
        """A document just read: its type checked; a PDF checked to open (its text is
        extracted only if a provider needs it), any other type's text extracted now."""
        media_type = fetched.media_type
        if media_type not in self.limits.allowed_types:
            allowed = ", ".join(sorted(self.limits.allowed_types))
            raise DocumentUnavailable(
                f"documents of type {media_type or '(unknown)'} are not accepted; "
                f"allowed: {allowed}"
            )
        if media_type in NATIVE_TYPES:
            check_pdf(fetched.body)
            return ReadDocument(media_type, None, fetched.body)
        return ReadDocument(media_type, extract_text(media_type, fetched.body))


def _name_of(part: DocumentPart) -> str:
    """The last segment of the document's key or URL path: what it is called."""
    path = part.storage.key if part.storage is not None else urlsplit(part.url or "").path
    return path.rstrip("/").rsplit("/", 1)[-1][:200]
