"""The IBM watsonx.ai chat adapter, over the documented HTTP API with httpx.

The official ``ibm-watsonx-ai`` SDK pulls in pandas and more for one POST, so this speaks
the API directly: an IAM token exchange (:mod:`providers.ibm_iam`), then ``POST
{base_url}/ml/v1/text/chat?version=...`` (or ``/ml/v1/text/chat_stream``, answered as
server-sent ``chat.completion.chunk`` events; ``/ml/v1/text/embeddings`` to embed) with the
bearer token. No retries here (they are the gateway's job), except the one the token
protocol needs: a 401 means the token was revoked or expired early, so the key is
exchanged again and the call repeated once.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
import orjson

from gateway.credentials import Credentials
from gateway.errors import ProviderError
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse, embed_in_batches
from providers.ibm_iam import DEFAULT_IAM_URL, IamTokenSource
from providers.openai_stream import ChunkReader
from providers.sse import ServerSentEvent, server_sent_events
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    OUT_OF_QUOTA,
    PLACEHOLDER_API_KEY,
    check_stream_type,
    decode_reply,
    error_body,
    error_for_status,
    for_instance,
    malformed_reply,
    parse_retry_after,
    stream_cut_short,
    stream_failed,
    timed_out,
    unreachable,
    upstream_message,
)
from providers.watsonx_embeddings import (
    EMBED_BATCH,
    embeddings_body,
    embeddings_url,
    embeddings_vectors,
)
from providers.watsonx_format import (
    DEFAULT_API_VERSION,
    chat_request_to_watsonx,
    chat_response_from_watsonx,
    chat_url,
    finish_reason_from_watsonx,
    watsonx_error,
)

DEFAULT_BASE_URL = "https://us-south.ml.cloud.ibm.com"


def map_watsonx_error(
    failure: httpx.Response | httpx.HTTPError, *, provider: str, credentials: Credentials
) -> ProviderError:
    """Translate a failed chat call (an error response or an httpx exception) into the
    gateway's hierarchy; the one place that does.

    watsonx's own case: ``token_quota_reached`` (the account's monthly token quota) cannot
    be waited out, whatever its status, so it is not retryable. An expired token's 401 was
    already retried once by the caller; one that reaches here is an authentication failure.
    """
    match failure:
        case httpx.TimeoutException():
            return timed_out(provider)
        case httpx.HTTPError():
            return unreachable(provider)
    status = failure.status_code
    retry_after = parse_retry_after(failure.headers)
    code, message = _public_error(error_body(failure.content), status, credentials)
    return error_for_status(
        status,
        message,
        provider=provider,
        retry_after=retry_after,
        account_limit=OUT_OF_QUOTA if code == "token_quota_reached" else None,
    )


def _public_error(body: object, status: int, credentials: Credentials) -> tuple[str | None, str]:
    """The code and the public (redacted, shortened) message of a watsonx error body."""
    code, text = watsonx_error(body)
    redacted = {"message": credentials.redact(text)} if text else None
    return code, upstream_message(redacted, status, credentials.get("api_key"))


class WatsonxChatProvider:
    """watsonx.ai via ``POST {base_url}/ml/v1/text/chat``.

    ``project`` names the watsonx project; options: ``space_id`` (a deployment space instead
    of a project), ``iam_url`` (default ``https://iam.cloud.ibm.com``) and ``time_limit_ms``
    (sent as the API's ``time_limit``). ``api_version`` is the ``version`` date parameter.
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        self._credentials = credentials
        self._project_id = config.project
        self._space_id = config.options.get("space_id") or None
        if not (self._project_id or self._space_id):
            raise ValueError(f"{config.name}: watsonx needs a project or options.space_id")
        raw_limit = config.options.get("time_limit_ms")
        if raw_limit is not None and (not raw_limit.isdigit() or int(raw_limit) < 1):
            raise ValueError(f"{config.name}: options.time_limit_ms must be an integer > 0")
        self._time_limit_ms = int(raw_limit) if raw_limit is not None else None
        base_url = config.base_url or DEFAULT_BASE_URL
        version = config.api_version or DEFAULT_API_VERSION
        self._url = chat_url(base_url, version)
        self._stream_url = chat_url(base_url, version, stream=True)
        self._embeddings_url = embeddings_url(base_url, version)
        # One pooled client for IAM and chat calls alike, shared by all worker threads.
        self._client = httpx.Client(timeout=config.timeout_seconds)
        self._iam = IamTokenSource(
            self._client,
            credentials.get("api_key") or PLACEHOLDER_API_KEY,
            iam_url=config.options.get("iam_url") or DEFAULT_IAM_URL,
            provider=config.name,
            redact=credentials.redact,
        )

    def _body(self, request: ChatRequest) -> bytes:
        return orjson.dumps(
            chat_request_to_watsonx(
                request,
                project_id=self._project_id,
                space_id=self._space_id,
                time_limit_ms=self._time_limit_ms,
            )
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat call; every failure is a ``ProviderError``."""
        payload = self._call(self._url, self._body(request))
        try:
            return chat_response_from_watsonx(payload)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The chat from ``chat_stream`` as SSE chunks; every failure is a ``ProviderError``
        (see ``providers.base.Provider.stream``)."""
        return self._stream(self._body(request))

    def _stream(self, body: bytes) -> Generator[StreamEvent, None, None]:
        token = self._iam.token()
        reply = self._post(self._stream_url, body, token, stream=True)
        if reply.status_code == 401:
            reply.close()
            reply = self._post(self._stream_url, body, self._iam.refresh(token), stream=True)
        reader = ChunkReader(finish=finish_reason_from_watsonx, model_fields=("model_id", "model"))
        try:
            if reply.status_code >= 400:
                reply.read()
                raise self._failure(reply)
            content_type = reply.headers.get("content-type")
            check_stream_type(content_type, "text/event-stream", provider=self.instance)
            for event in server_sent_events(reply.iter_lines()):
                yield from reader.feed(self._chunk(event))
            yield reader.end()
        except httpx.HTTPError as exc:
            # The 200 is in: a connection failing now cut the stream short.
            if isinstance(exc, httpx.TimeoutException):
                raise timed_out(self.instance) from None
            raise stream_cut_short(provider=self.instance) from None
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None
        finally:
            reply.close()

    def _chunk(self, event: ServerSentEvent) -> object:
        """One event's chunk; ``stream_failed`` for watsonx's error event."""
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise malformed_reply("a stream event is not valid JSON") from None
        if event.event == "error" or (isinstance(data, dict) and "errors" in data):
            _, message = _public_error(data, 200, self._credentials)
            raise stream_failed(message, provider=self.instance)
        return data

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """``POST /ml/v1/text/embeddings``, up to 1,000 texts per call; every failure is a
        ``ProviderError``."""

        def embed_batch(texts: tuple[str, ...]) -> tuple[list[list[float]], int]:
            body = embeddings_body(
                request.model, texts, project_id=self._project_id, space_id=self._space_id
            )
            payload = self._call(self._embeddings_url, orjson.dumps(body))
            return embeddings_vectors(payload, len(texts))

        try:
            return embed_in_batches(request, EMBED_BATCH, embed_batch)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def _call(self, url: str, body: bytes) -> dict[str, Any]:
        """POST with the IAM token (exchanged again once on a 401): the reply's object."""
        token = self._iam.token()
        response = self._post(url, body, token)
        if response.status_code == 401:
            response = self._post(url, body, self._iam.refresh(token))
        if response.status_code >= 400:
            raise self._failure(response)
        return decode_reply(
            response.content, response.headers.get("content-type"), provider=self.instance
        )

    def _post(self, url: str, body: bytes, token: str, *, stream: bool = False) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        try:
            request = self._client.build_request("POST", url, content=body, headers=headers)
            return self._client.send(request, stream=stream)
        except httpx.HTTPError as exc:
            # "from None": the exception holds the request, Authorization header included.
            raise self._failure(exc) from None

    def _failure(self, failure: httpx.Response | httpx.HTTPError) -> ProviderError:
        return map_watsonx_error(failure, provider=self.instance, credentials=self._credentials)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
