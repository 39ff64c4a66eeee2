"""The OCI Generative AI chat adapter, on the official ``oci`` SDK and its request signer.

The SDK would otherwise retry (8 attempts: its default strategy applies when a client sets
none) and trip its own client-side circuit breaker; both are the gateway's job, so both are
off. The request body is the REST JSON from :mod:`providers.oci_format`, passed already
encoded: ``BaseClient.call_api`` sends str/bytes bodies as they are (and signs them), which
puts on the wire exactly what the SDK's own models would (same JSON, measured) without
their ~0.2 ms of building and serialising. The response is read raw
(``skip_deserialization``): the camelCase JSON the API documents, not SDK models.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from typing import Any

import oci
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.credentials import Credentials
from gateway.errors import ProviderError, ProviderRejected, ProviderUnavailable
from providers.config import InstanceConfig
from providers.embeddings import EmbeddingRequest, EmbeddingResponse, embed_in_batches
from providers.oci_embeddings import EMBED_BATCH, embed_text_body, embed_text_vectors
from providers.oci_format import chat_request_to_oci, chat_response_from_oci
from providers.oci_stream import EventReader
from providers.streaming import StreamEvent
from providers.types import ChatRequest, ChatResponse
from providers.upstream_errors import (
    call_failed,
    check_stream_type,
    decode_reply,
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

# The SDK's own default; the read timeout is the instance's timeout_seconds.
CONNECT_TIMEOUT_SECONDS = 10.0
_API_KEY_OPTIONS = ("user", "tenancy", "fingerprint")
# Everything the SDK raises from a call: HTTP errors, its own client-side errors, and the
# wrapped ``requests`` connection and timeout errors.
_SDK_ERRORS = (
    oci.exceptions.ServiceError,
    oci.exceptions.ClientError,
    oci.exceptions.RequestException,
    oci.exceptions.ConnectTimeout,
)


def oci_principal_available(config: InstanceConfig) -> bool:
    """Whether a resource principal (OCI Functions, Data Science, ...) is configured here.

    Instance principals would need the metadata service: probing it could hang start-up
    off OCI, so the ambient chain only counts when the resource principal variable is set.
    """
    return bool(os.environ.get("OCI_RESOURCE_PRINCIPAL_VERSION"))


def _placeholder_pem() -> str:
    """A throwaway key for an instance configured without credentials (the emulator accepts
    any signature; the real API answers 401, reported as "provider authentication failed")."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _signer(config: InstanceConfig, credentials: Credentials) -> tuple[Any, dict[str, str]]:
    """The request signer and the SDK config dict it is validated against."""
    sdk_config = {"region": config.region} if config.region else {}
    if credentials.ambient:
        if oci_principal_available(config):
            return oci.auth.signers.get_resource_principals_signer(), sdk_config
        return oci.auth.signers.InstancePrincipalsSecurityTokenSigner(), sdk_config
    missing = [o for o in _API_KEY_OPTIONS if not config.options.get(o)]
    if missing:
        raise ValueError(f"{config.name}: OCI API-key signing needs options {', '.join(missing)}")
    pem = credentials.get("private_key") or _placeholder_pem()
    ids = {o: config.options[o] for o in _API_KEY_OPTIONS}
    try:
        signer = oci.signer.Signer(
            ids["tenancy"],
            ids["user"],
            ids["fingerprint"],
            private_key_file_location=None,
            pass_phrase=credentials.get("pass_phrase"),
            private_key_content=pem,
        )
    except (oci.exceptions.ClientError, ValueError, TypeError) as exc:
        # The key's own text must not reach a log line.
        kind = type(exc).__name__
        raise ValueError(f"{config.name}: the OCI private key cannot be loaded ({kind})") from None
    # The SDK validates a key-signed client's config: ids, region and a key (or its file).
    return signer, {**sdk_config, **ids, "key_content": pem}


def map_oci_error(exc: Exception, *, provider: str, credentials: Credentials) -> ProviderError:
    """Translate any OCI SDK error into the gateway's hierarchy; the one place that does."""
    match exc:
        case oci.exceptions.ServiceError():
            return _service_error(exc, provider=provider, credentials=credentials)
        case oci.exceptions.ConnectTimeout():
            return ProviderUnavailable(
                "could not connect to the provider in time", provider=provider
            )
        case oci.exceptions.RequestException():
            # The SDK wraps requests' own exception (a ReadTimeout, a ConnectionError) in args.
            cause = exc.args[0] if exc.args else exc
            if "Timeout" in type(cause).__name__:
                return timed_out(provider)
            return unreachable(provider)
        case _:
            return call_failed(exc, provider=provider)


def _service_error(exc: Any, *, provider: str, credentials: Credentials) -> ProviderError:
    """OCI's own case: of its 409s only ``IncorrectState`` is transient (its SDK's retry
    policy retries exactly that one); ``NotAuthorizedOrResourceAlreadyExists`` is not."""
    status: int = exc.status
    headers: Mapping[str, str] = exc.headers or {}
    # Without an OCI error code the body was not OCI's JSON (the SDK then puts the raw text,
    # say a proxy's HTML page, in ``message``): not shown.
    body = {"message": exc.message} if isinstance(exc.code, str) else {}
    # Redacted before upstream_message shortens it, so no cut-off key line survives.
    if isinstance(body.get("message"), str):
        body = {"message": credentials.redact(body["message"])}
    message = credentials.redact(upstream_message(body, status, None))
    retry_after = parse_retry_after(headers)
    if status == 409 and exc.code != "IncorrectState":
        return ProviderRejected(
            message, provider=provider, upstream_status=status, retry_after=retry_after
        )
    return error_for_status(status, message, provider=provider, retry_after=retry_after)


def _json_of(data: object, *, provider: str) -> Mapping[str, Any]:
    """The decoded body. With deserialization skipped the SDK hands back the JSON value it
    decoded for ``content-type: application/json`` exactly (the text itself when that is not
    JSON), and the raw HTTP response for anything else (a charset parameter, an HTML page)."""
    if isinstance(data, Mapping):
        return data
    if isinstance(data, str):
        raise malformed_reply("not valid JSON", provider=provider)
    content = getattr(data, "content", None)
    if not isinstance(content, bytes):
        raise malformed_reply("not a JSON object", provider=provider)
    headers = getattr(data, "headers", None)
    content_type = headers.get("content-type") if isinstance(headers, Mapping) else None
    return decode_reply(content, content_type, provider=provider)


def _stream_broken(exc: OSError, *, provider: str) -> ProviderUnavailable:
    """What reading the body after the 200 raised. The SDK does not wrap it: its vendored
    ``requests`` raises a ``ChunkedEncodingError`` for a body cut off and a
    ``ConnectionError`` around urllib3's ``ReadTimeoutError`` for a silent one (all
    ``OSError``). A timeout is a timeout; anything else, a stream cut short."""
    if any("Timeout" in type(cause).__name__ for cause in (exc, *exc.args)):
        return timed_out(provider)
    return stream_cut_short(provider=provider)


class OCIChatProvider:
    """OCI Generative AI ``POST /20231130/actions/chat`` in the GENERIC api format.

    Options: ``compartment_id`` (required), and for API-key signing ``user``, ``tenancy``
    and ``fingerprint`` (the key itself is the ``private_key`` credential field, with an
    optional ``pass_phrase``). With workload identity: resource or instance principals.
    """

    def __init__(self, config: InstanceConfig, credentials: Credentials) -> None:
        self.instance = config.name
        compartment_id = config.options.get("compartment_id")
        if not compartment_id:
            raise ValueError(f"{config.name}: OCI needs options.compartment_id")
        self._compartment_id = compartment_id
        self._credentials = credentials
        signer, sdk_config = _signer(config, credentials)
        try:
            self._client = oci.generative_ai_inference.GenerativeAiInferenceClient(
                sdk_config,
                signer=signer,
                service_endpoint=config.base_url,
                retry_strategy=oci.retry.NoneRetryStrategy(),
                circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
                timeout=(
                    min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds),
                    config.timeout_seconds,
                ),
                skip_deserialization=True,
            )
        except oci.exceptions.ClientError as exc:  # InvalidConfig names keys, not values
            raise ValueError(f"{config.name}: invalid OCI configuration: {exc}") from None

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion; every failure is a ``ProviderError``."""
        body = chat_request_to_oci(request, compartment_id=self._compartment_id)
        try:
            response = self._client.chat(orjson.dumps(body))
        except _SDK_ERRORS as exc:
            # "from None": SDK errors hold the signed request, Authorization header included.
            raise map_oci_error(
                exc, provider=self.instance, credentials=self._credentials
            ) from None
        request_id = response.headers.get("opc-request-id")
        try:
            payload = _json_of(response.data, provider=self.instance)
            return chat_response_from_oci(
                payload, request_id=request_id if isinstance(request_id, str) else None
            )
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        """The chat with ``isStream``: server-sent events through the SDK's own SSE client;
        every failure is a ``ProviderError`` (see ``providers.base.Provider.stream``)."""
        body = chat_request_to_oci(request, compartment_id=self._compartment_id, stream=True)
        return self._stream(orjson.dumps(body))

    def _stream(self, body: bytes) -> Generator[StreamEvent, None, None]:
        try:
            response = self._client.chat(body)
        except _SDK_ERRORS as exc:
            # "from None": SDK errors hold the signed request, Authorization header included.
            raise map_oci_error(
                exc, provider=self.instance, credentials=self._credentials
            ) from None
        request_id = response.headers.get("opc-request-id")
        reader = EventReader(request_id if isinstance(request_id, str) else None)
        # The SDK hands back its SSE client only for a body of type text/event-stream; a JSON
        # body arrives decoded, anything else as the raw response (closable).
        data = response.data
        try:
            if not callable(getattr(data, "events", None)):
                content_type = response.headers.get("content-type")
                check_stream_type(content_type, "text/event-stream", provider=self.instance)
                raise malformed_reply("not an event stream", provider=self.instance)
            for event in data.events():
                if event.data == "[DONE]":  # the end marker OCI's StreamOptions mention
                    break
                yield from reader.feed(self._event(event.data))
            yield from reader.end()
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None
        except OSError as exc:  # the connection failing once the 200 is in (see below)
            raise _stream_broken(exc, provider=self.instance) from None
        finally:
            if callable(close := getattr(data, "close", None)):
                close()

    def _event(self, data: str) -> object:
        """One event's JSON; ``stream_failed`` for OCI's error body in an event's place."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise malformed_reply("a stream event is not valid JSON") from None
        if isinstance(event, dict) and isinstance(event.get("message"), str):
            text = self._credentials.redact(event["message"])
            raise stream_failed(upstream_message({"message": text}, 200, None), provider="")
        return event

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """``POST /actions/embedText``, up to 96 texts per call; every failure is a
        ``ProviderError``."""

        def embed_batch(texts: tuple[str, ...]) -> tuple[list[list[float]], int]:
            body = embed_text_body(request.model, texts, request.dimensions, self._compartment_id)
            try:
                response = self._client.embed_text(orjson.dumps(body))
            except _SDK_ERRORS as exc:
                # "from None": SDK errors hold the signed request, Authorization included.
                raise map_oci_error(
                    exc, provider=self.instance, credentials=self._credentials
                ) from None
            payload = _json_of(response.data, provider=self.instance)
            return embed_text_vectors(payload, len(texts))

        try:
            return embed_in_batches(request, EMBED_BATCH, embed_batch)
        except ProviderError as exc:
            raise for_instance(exc, self.instance) from None

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self._client.base_client.session.close()
