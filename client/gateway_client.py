"""A small synchronous client for the gateway's jobs, chat, batch and usage endpoints."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from client.errors import GatewayClientError, error_from_response, error_from_transport
from client.models import Batch, BatchResult, Document, Job, JobSummary
from client.usage import GroupBy, UsageReport

# The server blocks for up to this long per wait call; longer waits are several calls.
WAIT_SLICE_SECONDS = 60.0

DocumentInput = Document | Mapping[str, Any]
Model = TypeVar("Model", bound=BaseModel)


class GatewayClient:
    """One ``httpx.Client`` to the gateway at ``base_url``; use it as a context manager.

    ``timeout`` bounds each HTTP exchange; calls that block on the server (``wait``) add
    the time they ask the server to wait."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Jobs

    def submit(
        self,
        type: str,
        request: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        session_id: str | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        cache: str | None = None,
        cache_ttl: int | None = None,
    ) -> Job:
        """Submit a job (``POST /v1/jobs``); a repeated idempotency key returns the first.
        ``cache``: the response cache's mode for a completion (``"use"``, ``"refresh"``,
        ``"off"``; None: the tenant's default), ``cache_ttl`` the seconds a stored answer
        lives. A hit comes back already succeeded, ``job.cache["hit"]`` true."""
        headers: dict[str, str] = {}
        if cache is not None:
            headers["x-llm-gateway-cache"] = cache
        if cache_ttl is not None:
            headers["x-llm-gateway-cache-ttl"] = str(cache_ttl)
        body = _without_none(
            type=type,
            request=dict(request),
            webhook={"url": webhook_url} if webhook_url else None,
            session_id=session_id,
            priority=priority,
            idempotency_key=idempotency_key,
            metadata=dict(metadata) if metadata is not None else None,
        )
        return _parsed(Job, self._request("POST", "/v1/jobs", json=body, headers=headers))

    def get(self, job_id: str) -> Job:
        return _parsed(Job, self._request("GET", f"/v1/jobs/{job_id}"))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once terminal, or as it is when ``timeout`` seconds have passed (``None``:
        no limit). The server blocks until the job ends, in slices of at most a minute."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = WAIT_SLICE_SECONDS if deadline is None else deadline - time.monotonic()
            slice_seconds = max(0.0, min(WAIT_SLICE_SECONDS, remaining))
            response = self._request(
                "GET",
                f"/v1/jobs/{job_id}/wait",
                params={"timeout": round(slice_seconds, 3)},
                timeout=slice_seconds + self.timeout,
            )
            job = _parsed(Job, response)
            if response.status_code == 200 or job.terminal:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                return job

    def cancel(self, job_id: str) -> Job:
        return _parsed(Job, self._request("POST", f"/v1/jobs/{job_id}/cancel"))

    def jobs(
        self,
        status: str | None = None,
        limit: int = 20,
        expand: Sequence[str] = (),
    ) -> Iterator[JobSummary]:
        """Every job's summary, newest first, fetched ``limit`` per page as the iteration
        goes; ``expand`` (``"request"``, ``"result"``) adds those fields to each."""
        params = _without_none(status=status, limit=limit, expand=list(expand) or None)
        for item in self._pages("/v1/jobs", params):
            yield _validated(JobSummary, item)

    def chat(
        self, model: str, messages: Sequence[Mapping[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        """``POST /v1/chat/completions``; the OpenAI-shaped response as a dict."""
        body = {"model": model, "messages": [dict(m) for m in messages], **fields}
        return _json_object(self._request("POST", "/v1/chat/completions", json=body))

    def embeddings(self, model: str, input: str | Sequence[str], **fields: Any) -> dict[str, Any]:
        """``POST /v1/embeddings`` (``dimensions``, ``encoding_format``, ``provider`` ...
        as ``fields``); OpenAI's ``list`` object as a dict."""
        text = input if isinstance(input, str) else list(input)
        body = {"model": model, "input": text, **fields}
        return _json_object(self._request("POST", "/v1/embeddings", json=body))

    def model(self, model_id: str) -> dict[str, Any]:
        """``GET /v1/models/{id}``: the model, its kind and the instances serving it."""
        return _json_object(self._request("GET", f"/v1/models/{model_id}"))

    # Batches

    def submit_batch(
        self,
        model: str,
        documents: Sequence[DocumentInput],
        *,
        options: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        """Submit documents for enhancement as one batch (``POST /v1/batches``)."""
        body = _without_none(
            model=model,
            documents=[_document_body(d) for d in documents],
            options=dict(options) if options is not None else None,
            webhook={"url": webhook_url} if webhook_url else None,
            metadata=dict(metadata) if metadata is not None else None,
            priority=priority,
            idempotency_key=idempotency_key,
        )
        return _parsed(Batch, self._request("POST", "/v1/batches", json=body))

    def get_batch(self, batch_id: str) -> Batch:
        return _parsed(Batch, self._request("GET", f"/v1/batches/{batch_id}"))

    def batches(self, limit: int = 20) -> Iterator[Batch]:
        """Every batch, newest first, fetched ``limit`` per page as the iteration goes."""
        for item in self._pages("/v1/batches", {"limit": limit}):
            yield _validated(Batch, item)

    def wait_batch(
        self,
        batch_id: str,
        timeout: float | None = None,
        poll_seconds: float = 1.0,
        on_progress: Callable[[Batch], None] | None = None,
    ) -> Batch:
        """Poll the batch every ``poll_seconds`` (the API has no batch wait) until it ends or
        ``timeout`` passes; ``on_progress`` sees every read. Returns the last read."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = self.get_batch(batch_id)
            if on_progress is not None:
                on_progress(batch)
            if batch.ended:
                return batch
            pause = poll_seconds
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return batch
                pause = min(pause, remaining)
            time.sleep(pause)

    def batch_result_lines(self, batch_id: str) -> Iterator[str]:
        """The results' JSONL lines as the server sends them, read as they arrive."""
        with self._stream("GET", f"/v1/batches/{batch_id}/results") as response:
            for line in response.iter_lines():
                if line.strip():
                    yield line

    def batch_results(self, batch_id: str) -> Iterator[BatchResult]:
        """One result per document, in submission order, parsed line by line."""
        for line in self.batch_result_lines(batch_id):
            yield parse_batch_result(line)

    def cancel_batch(self, batch_id: str) -> Batch:
        response = self._request("POST", f"/v1/batches/{batch_id}/cancel")
        return _parsed(Batch, response)

    def webhook_secrets(self) -> list[str]:
        """The signing secrets of the caller's webhooks (more than one while rotating)."""
        body = _json_object(self._request("GET", "/v1/webhooks/secret"))
        secrets = body.get("secrets")
        if not isinstance(secrets, list):
            raise _unexpected(200, "no list of secrets")
        return [str(secret) for secret in secrets]

    # Usage

    def usage(
        self, start: str | None = None, end: str | None = None, group_by: GroupBy = "day"
    ) -> UsageReport:
        """``GET /v1/usage``: the caller's usage from ``start`` to ``end`` (UTC days,
        YYYY-MM-DD, both included; the server's defaults when None), grouped."""
        params = _without_none(start=start, end=end, group_by=group_by)
        return _parsed(UsageReport, self._request("GET", "/v1/usage", params=params))

    # HTTP

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, self.base_url) from None
        if not response.is_success:
            raise error_from_response(response)
        return response

    @contextmanager
    def _stream(self, method: str, path: str) -> Iterator[httpx.Response]:
        """The response, its body unread; a transport error while it is read is translated
        too (the caller's loop runs inside this block)."""
        try:
            with self._http.stream(method, path) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise error_from_transport(exc, self.base_url) from None

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = _json_object(
                self._request("GET", path, params=_without_none(**params, cursor=cursor))
            )
            yield from page.get("data", [])
            cursor = page.get("next_cursor")
            if not cursor or not page.get("has_more", True):
                return


def parse_batch_result(line: str) -> BatchResult:
    """One line of a batch's results; :class:`GatewayClientError` when it is not one."""
    return _validated(BatchResult, line)


def _without_none(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _document_body(document: DocumentInput) -> dict[str, Any]:
    if isinstance(document, Document):
        return document.body()
    return dict(document)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise _unexpected(response.status_code, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _unexpected(response.status_code, "the body is not a JSON object")
    return body


def _parsed(model: type[Model], response: httpx.Response) -> Model:
    return _validated(model, _json_object(response), response.status_code)


def _validated(model: type[Model], data: dict[str, Any] | str, status: int = 200) -> Model:
    """``data`` (a decoded object or a JSON line) as ``model``; the server's mistake, not
    the caller's, when it does not fit."""
    try:
        if isinstance(data, str):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise _unexpected(status, f"not a {model.__name__}: {where}: {first['msg']}") from None


def _unexpected(status: int, why: str) -> GatewayClientError:
    return GatewayClientError(
        status, "invalid_response", f"unexpected answer from the gateway: {why}"
    )
