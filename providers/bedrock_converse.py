"""The AWS Bedrock adapter: the Converse API through boto3's ``bedrock-runtime`` client
(``converse``, or ``converse_stream`` and its binary event stream), ``count_tokens`` for
token counts, and ``invoke_model`` for embeddings.

boto3's own retries are off (one attempt in total): retrying is the gateway's job, and a
hidden retry would double-count against the instance's global rate limits. The client is
built once per adapter: creating boto3 clients is slow and not safe to do from several
threads at once, while a built client is thread-safe.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import boto3
import botocore.config
import botocore.eventstream
import botocore.exceptions
import botocore.parsers
import orjson
import urllib3.exceptions

from gateway.credentials import Credentials
from gateway.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.bedrock_count import input_tokens, to_count_tokens_request
from providers.bedrock_embeddings import (
    COHERE_BATCH,
    INPUT_TOKENS_HEADER,
    cohere_body,
    cohere_vectors,
    embedding_family,
    titan_body,
    titan_vector,
)
from providers.bedrock_format import from_converse_response, request_id, to_converse_request
from providers.bedrock_stream import EventReader
from providers.config import InstanceConfig
from providers.embeddings import (
    EmbeddingRequest,
    EmbeddingResponse,
    embed_in_batches,
    token_count,
)
from providers.output_tool import as_json_text, forces_output_tool, stream_as_json_text
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    AUTH_FAILED,
    call_failed,
    check_stream_type,
    decode_reply,
    error_for_status,
    for_instance,
    malformed_reply,
    parse_retry_after,
    scrub_secrets,
    stream_cut_short,
    stream_failed,
    timed_out,
    unreachable,
    upstream_message,
)

# What ConverseStream answers in: binary messages, each with its own CRCs.
EVENT_STREAM = "application/vnd.amazon.eventstream"

# boto3's default pool holds 10 connections; a worker may run more calls than that at once.
_DEFAULT_POOL = 10
_MAX_MESSAGE_CHARS = 500
_RATE_LIMITED = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})
_AUTH = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
    }
)
# Transient on AWS's side; ModelNotReadyException is a 429 but means "loading", not a limit.
_UNAVAILABLE = frozenset(
    {
        "InternalServerException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "ModelNotReadyException",
    }
)


# What botocore raises for a successful answer it cannot parse (see ``complete``).
_PARSER_FAILURES = (botocore.parsers.ResponseParserError, AttributeError, TypeError, KeyError)
# What reading a ConverseStream raises (see ``map_bedrock_stream_error``).
_STREAM_FAILURES = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    botocore.eventstream.ParserError,
    urllib3.exceptions.HTTPError,
    *_PARSER_FAILURES,
)


def aws_chain_available(config: InstanceConfig) -> bool:
    """Whether boto3's default chain (env, shared files, IRSA, instance role) finds keys."""
    return boto3.Session(region_name=config.region).get_credentials() is not None


def _session(credentials: Credentials) -> boto3.session.Session:
    # Ambient, or nothing configured at all: boto3's default chain.
    if credentials.ambient or not credentials.fields:
        return boto3.session.Session()
    return boto3.session.Session(
        aws_access_key_id=credentials.require("access_key_id"),
        aws_secret_access_key=credentials.require("secret_access_key"),
        aws_session_token=credentials.get("session_token"),
    )


def map_bedrock_error(
    exc: botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError,
    *,
    provider: str,
    credentials: Credentials,
) -> ProviderError:
    """Translate any botocore error into the gateway's hierarchy; the one place that does."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return _client_error(exc, provider=provider, credentials=credentials)
    return _botocore_error(exc, provider=provider, credentials=credentials)


def _client_error(
    exc: botocore.exceptions.ClientError, *, provider: str, credentials: Credentials
) -> ProviderError:
    """An AWS error response. AWS's error code outranks the status (a quota is a 400, an
    expired token a 400, a model still loading a 429); without a known code, the ladder."""
    error: Any = exc.response.get("Error", {})
    metadata: Any = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code", ""))
    status = int(metadata.get("HTTPStatusCode") or 0)
    retry_after = parse_retry_after(metadata.get("HTTPHeaders") or {})
    raw = error.get("Message")
    # Redacted before upstream_message shortens it, so no secret is cut in half.
    redacted = credentials.redact(raw) if isinstance(raw, str) else None
    message = upstream_message({"message": redacted}, status, None)

    def mapped(cls: type[ProviderError], text: str) -> ProviderError:
        return cls(text, provider=provider, upstream_status=status, retry_after=retry_after)

    if code in _RATE_LIMITED:
        return mapped(ProviderRateLimited, f"the provider rate-limited the request: {message}")
    if code in _AUTH:
        # The operator's credential, not the caller's request: a 502, never retried.
        return mapped(ProviderError, AUTH_FAILED)
    if code in _UNAVAILABLE:
        return mapped(ProviderUnavailable, f"the provider failed: {code}: {message}")
    if code == "ModelErrorException":
        # 424: the model failed on the request; not the caller's fault, not a transient.
        return mapped(ProviderError, f"the model failed to process the request: {message}")
    return error_for_status(status, message, provider=provider, retry_after=retry_after)


def map_bedrock_stream_error(
    exc: Exception, *, provider: str, credentials: Credentials
) -> ProviderError:
    """Translate what reading a ConverseStream raises once its 200 is in: an exception
    message (``modelStreamErrorException``, ``throttlingException``, ...), which boto3
    raises as an ``EventStreamError``; a message whose CRC or lengths are wrong; the
    connection failing (urllib3's errors: boto3 does not wrap the stream's)."""
    match exc:
        case botocore.exceptions.EventStreamError():
            error: Any = exc.response.get("Error", {})
            raw = error.get("Message")
            redacted = credentials.redact(raw) if isinstance(raw, str) else None
            message = upstream_message({"message": redacted}, 200, None)
            return stream_failed(message, provider=provider)
        case botocore.eventstream.ParserError():
            return malformed_reply("a stream message is corrupt", provider=provider)
        case urllib3.exceptions.ReadTimeoutError():
            return timed_out(provider)
        case urllib3.exceptions.HTTPError():
            return stream_cut_short(provider=provider)
        case botocore.exceptions.ClientError() | botocore.exceptions.BotoCoreError():
            return map_bedrock_error(exc, provider=provider, credentials=credentials)
        case _:
            return call_failed(exc, provider=provider)


def _botocore_error(
    exc: botocore.exceptions.BotoCoreError, *, provider: str, credentials: Credentials
) -> ProviderError:
    """A failure without an AWS response (network, credentials, parameters)."""
    match exc:
        case botocore.exceptions.ReadTimeoutError() | botocore.exceptions.ConnectTimeoutError():
            return timed_out(provider)
        case botocore.exceptions.EndpointConnectionError() | botocore.exceptions.ConnectionError():
            return unreachable(provider)
        case botocore.exceptions.HTTPClientError():
            return ProviderUnavailable("the connection to the provider failed", provider=provider)
        case (
            botocore.exceptions.NoCredentialsError() | botocore.exceptions.PartialCredentialsError()
        ):
            return ProviderError(AUTH_FAILED, provider=provider)
        case botocore.exceptions.ParamValidationError():
            # boto3 checks the request against the service model before sending it.
            text = credentials.redact(scrub_secrets(str(exc), None))[:_MAX_MESSAGE_CHARS]
            return ProviderRejected(f"invalid Bedrock request: {text}", provider=provider)
        case _:
            return call_failed(exc, provider=provider)


class BedrockConverseProvider:
    """AWS Bedrock via ``POST {base_url}/model/{modelId}/converse``, signed with SigV4.

    ``config.region`` picks the regional endpoint and the signing region; ``base_url``
    overrides the endpoint (a VPC endpoint, or the emulator).
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        self._credentials = credentials
        client_config = botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=config.timeout_seconds,
            read_timeout=config.timeout_seconds,
            max_pool_connections=max(_DEFAULT_POOL, config.limits.max_concurrency or 0),
            # Set in code so an AWS_BEARER_TOKEN_BEDROCK in the environment cannot switch
            # the client to bearer auth behind the configured credentials' back.
            signature_version="v4",
            user_agent_extra="llm-gateway",
        )
        try:
            self._client: Any = _session(credentials).client(
                "bedrock-runtime",
                region_name=config.region,
                endpoint_url=config.base_url,
                config=client_config,
            )
        except botocore.exceptions.NoRegionError:
            raise ValueError(f"{config.name}: a bedrock instance needs a region") from None

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One Converse call; every failure is a ``ProviderError``."""
        kwargs = to_converse_request(request)
        try:
            body = self._client.converse(**kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            # "from None": botocore errors can carry the signed request.
            raise map_bedrock_error(
                exc, provider=self.instance, credentials=self._credentials
            ) from None
        except _PARSER_FAILURES:
            # botocore's response parser assumes the body's shape: a 200 holding a JSON value
            # that is not an object breaks it with a plain AttributeError or TypeError.
            raise malformed_reply("not a Converse response", provider=self.instance) from None
        try:
            response = from_converse_response(body, model=request.model)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None
        return as_json_text(response) if forces_output_tool(request) else response

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """One ConverseStream call; every failure is a ``ProviderError`` (see
        ``providers.base.Provider.stream``)."""
        events = self._stream(to_converse_request(request), request.model)
        return stream_as_json_text(events) if forces_output_tool(request) else events

    def _stream(self, kwargs: dict[str, Any], model: str) -> Generator[StreamEvent, None, None]:
        try:
            response = self._client.converse_stream(**kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            # "from None": botocore errors can carry the signed request.
            raise map_bedrock_error(
                exc, provider=self.instance, credentials=self._credentials
            ) from None
        metadata = response.get("ResponseMetadata") or {}
        events = response["stream"]
        reader = EventReader(model, request_id(metadata))
        try:
            content_type = (metadata.get("HTTPHeaders") or {}).get("content-type")
            check_stream_type(content_type, EVENT_STREAM, provider=self.instance)
            for event in events:
                yield from reader.feed(event)
            yield reader.end()
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None
        except _STREAM_FAILURES as exc:
            raise map_bedrock_stream_error(
                exc, provider=self.instance, credentials=self._credentials
            ) from None
        finally:
            events.close()

    def count_tokens(self, request: ChatRequest) -> int:
        """Bedrock's count of the request's input tokens (``CountTokens`` on its Converse
        input); every failure is a ``ProviderError``."""
        kwargs = to_count_tokens_request(request)
        try:
            body = self._client.count_tokens(**kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            # "from None": botocore errors can carry the signed request.
            raise map_bedrock_error(
                exc, provider=self.instance, credentials=self._credentials
            ) from None
        except _PARSER_FAILURES:
            raise malformed_reply("not a CountTokens response", provider=self.instance) from None
        try:
            return input_tokens(body)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """``InvokeModel`` in the model family's body: Titan one text per call, Cohere 96;
        every failure is a ``ProviderError``."""
        model = request.model
        family = embedding_family(model)
        if family is None:  # checked at submission; a changed model_map could still get here
            raise ProviderRejected(
                f"{model!r} is not a Bedrock embedding model the gateway can call",
                provider=self.instance,
            )

        def titan(texts: tuple[str, ...]) -> tuple[list[list[float]], int]:
            asked = titan_body(model, texts[0], request.dimensions)
            body, header_tokens = self._invoke(model, asked)
            vector, counted = titan_vector(body)
            return [vector], header_tokens or token_count(counted)

        def cohere(texts: tuple[str, ...]) -> tuple[list[list[float]], int]:
            asked = cohere_body(model, texts, request.dimensions)
            body, header_tokens = self._invoke(model, asked)
            return cohere_vectors(body, len(texts)), header_tokens

        try:
            if family == "titan":
                return embed_in_batches(request, 1, titan)
            return embed_in_batches(request, COHERE_BATCH, cohere)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def _invoke(self, model: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """One ``InvokeModel`` call: the reply's JSON object and the input tokens its
        ``x-amzn-bedrock-input-token-count`` header counts (0 without one)."""
        try:
            response = self._client.invoke_model(
                modelId=model,
                body=orjson.dumps(body),
                contentType="application/json",
                accept="application/json",
            )
            content = response["body"].read()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            # "from None": botocore errors can carry the signed request.
            raise map_bedrock_error(
                exc, provider=self.instance, credentials=self._credentials
            ) from None
        except _PARSER_FAILURES:
            raise malformed_reply("not an InvokeModel response", provider=self.instance) from None
        payload = decode_reply(content, response.get("contentType"), provider=self.instance)
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        raw_tokens = headers.get(INPUT_TOKENS_HEADER)
        tokens = int(raw_tokens) if isinstance(raw_tokens, str) and raw_tokens.isdigit() else 0
        return payload, tokens

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()
