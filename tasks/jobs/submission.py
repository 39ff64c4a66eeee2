"""``JobSubmitter``: validates a job for its kind, routes it, stores it, and queues it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.exceptions import RedisError

from gateway import tracing
from gateway.errors import InvalidRequest, PayloadTooLarge, ServiceUnavailable, SessionNotFound
from gateway.outbound import OutboundPolicy, canonical_url
from gateway.queues import RUN_JOB_TASK, TOOLS_QUEUE
from limits.capacity import estimate_tokens as call_tokens
from limits.capacity import wait_order
from providers.config import InstanceConfig
from providers.openai_embeddings import embedding_call_from_openai
from providers.openai_format import chat_request_from_openai
from providers.pricing import price_for
from providers.registry import check_embedding, check_request
from providers.router import InstanceStates, ModelRouter
from providers.types import ChatRequest
from tasks.documents.resolver import has_documents
from tasks.jobs.messages import TaskMessageBuilder
from tasks.jobs.record import JobRecord, JobStatus, JobType, new_job_id, storable_json
from tasks.jobs.store import JobStore
from tasks.kinds.completion_request import CompletionRequest
from tasks.kinds.enhancement.request import EnhancementOptions, EnhancementRequest
from tasks.kinds.enhancement.steps import enhancement_chat, prompt_version
from tasks.kinds.request_limits import RequestLimits
from tasks.loops.state import LoopLimits, gateway_tools
from tasks.prompts.templates import PromptTemplates
from tasks.sessions.store import SessionStore
from tasks.usage.admission import TenantAdmission, estimate_tokens
from tasks.webhooks.secrets import WebhookSecrets
from tools.registry import ToolRegistry

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated submission, before it has an id."""

    type: JobType
    request: dict[str, Any]
    tenant: str
    priority: int = 5
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    session_id: str | None = None
    request_id: str | None = None
    # Where the worker caches a successful answer, and for how long (``tasks.cache``).
    cache_key: str | None = None
    cache_ttl: int | None = None


def fingerprint(spec: JobSpec) -> str:
    """sha256 of the canonical type + request: tells an idempotent repeat from a conflict."""
    digest = hashlib.sha256(storable_json([spec.type.value, spec.request], "request")).hexdigest()
    storable_json(spec.metadata, "metadata")
    return digest


def canonical_webhook(spec: JobSpec) -> dict[str, Any] | None:
    """The spec's webhook with its URL in the one spelling it is checked and called as."""
    if not spec.webhook:
        return None
    return {**spec.webhook, "url": canonical_url(spec.webhook["url"], param="webhook.url")}


def _provider_hint(request: dict[str, Any]) -> str | None:
    """The request's ``provider``: an instance name or a provider type to pin the job to."""
    hint = request.get("provider")
    if hint is None:
        return None
    if not isinstance(hint, str) or not 0 < len(hint) <= 64:
        raise InvalidRequest(
            "provider must be an instance name or a provider type (1-64 characters)",
            param="provider",
        )
    return hint


def _span_attributes(record: JobRecord) -> dict[str, str]:
    """The enqueue span's attributes: which job, for whom, onto which queue."""
    attributes = {
        "messaging.system": "redis",
        "messaging.destination.name": record.queue or "",
        "llm_gateway.job_id": record.id,
        "llm_gateway.job_type": record.type.value,
        "llm_gateway.tenant": record.tenant,
    }
    if record.provider:
        attributes["llm_gateway.instance"] = record.provider
    return attributes


class JobSubmitter:
    """Turns a ``JobSpec`` into a stored, queued job."""

    def __init__(
        self,
        *,
        store: JobStore,
        router: ModelRouter,
        tools: ToolRegistry,
        sessions: SessionStore,
        loop_defaults: LoopLimits,
        max_iterations_ceiling: int,
        instance_states: Callable[[], InstanceStates] = dict,
        outbound: OutboundPolicy,
        secrets: WebhookSecrets,
        prompts: PromptTemplates,
        document_max_bytes: int,
        request_limits: RequestLimits,
        embedding_max_inputs: int = 2048,
        pass_unknown_parameters: bool = False,
        admission: TenantAdmission | None = None,
    ) -> None:
        self._store = store
        # Per-tenant rpm, tpm and budgets (``tasks.usage.admission``); none: no limits.
        self._admission = admission
        self._messages = TaskMessageBuilder()
        self._router = router
        self._tools = tools
        self._sessions = sessions
        self._loop_defaults = loop_defaults
        self._max_iterations_ceiling = max_iterations_ceiling
        self._instance_states = instance_states
        self._outbound = outbound
        self._secrets = secrets
        self._prompts = prompts
        self._document_max_bytes = document_max_bytes
        self._request_limits = request_limits
        self._embedding_max_inputs = embedding_max_inputs
        self._pass_unknown_parameters = pass_unknown_parameters

    async def admit(self, tenant: str, estimated_tokens: int, requests: int = 1) -> None:
        """The tenant's rpm/tpm and budgets (``tasks.usage.admission``) for a submission
        that does not go through ``submit`` (a batch: one request per document)."""
        if self._admission is not None:
            await self._admission.admit(tenant, estimated_tokens, requests=requests)

    def prepare(
        self, spec: JobSpec, job_id: str | None = None, *, param: str = "request"
    ) -> JobRecord:
        """Validate and route; raises a 4xx ``GatewayError`` before anything is stored.
        ``param``: where the request sits in the caller's body (for error messages)."""
        # Also the check that the request and metadata can be stored (a 4xx if not).
        digest = fingerprint(spec)
        model: str | None = None
        provider: str | None = None
        first_tokens: int | None = None
        request: dict[str, Any] = spec.request
        if spec.type is JobType.COMPLETION:
            # The chat endpoint's body model is this one: the same request is judged the
            # same way on both, with the same ``param``. Counted before it is parsed.
            CompletionRequest.check(spec.request, pass_unknown=self._pass_unknown_parameters)
            self._request_limits.check_chat(spec.request)
            chat = chat_request_from_openai(spec.request)
            hint = _provider_hint(spec.request)
            route = self._router.route(
                chat.model,
                hint=hint,
                states=self._instance_states(),
                accepts=lambda inst: check_request(inst, chat),
            )
            limits = LoopLimits.of(spec.request, self._loop_defaults, self._max_iterations_ceiling)
            if limits.max_cost_usd is not None:
                has_price = price_for(route.instance, chat.model) is not None
                limits.priced(has_price, route.instance.name, chat.model)
            model, provider, queue = chat.model, route.instance.name, route.queue
            first_tokens = self._first_call_tokens(spec, chat, route.instance)
        elif spec.type is JobType.TOOL:
            name = spec.request.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidRequest("a tool job needs request.name", param="request.name")
            if spec.session_id is not None:
                raise InvalidRequest("session_id applies to completion jobs", param="session_id")
            self._tools.validate(name, spec.request.get("arguments", {}))
            queue = TOOLS_QUEUE
        elif spec.type is JobType.EMBEDDING:
            model, provider, queue = self._prepare_embedding(spec)
        elif spec.type is JobType.TOKEN_COUNT:
            model, provider, queue = self._prepare_token_count(spec)
        else:
            request, model, provider, queue = self._prepare_enhancement(spec, param)
        # Only a completion produces output as it runs; other kinds' streams would only ever
        # carry their terminal event.
        streams = spec.type is JobType.COMPLETION and request.get("stream") is True
        created_at = time.time()
        return JobRecord(
            id=job_id or new_job_id(),
            # Only an idempotent repeat is compared with it: no key, nothing to keep.
            fingerprint=digest if spec.idempotency_key else None,
            tenant=spec.tenant,
            type=spec.type,
            status=JobStatus.QUEUED,
            request=request,
            created_at=created_at,
            model=model,
            provider=provider,
            queue=queue,
            priority=spec.priority,
            metadata=spec.metadata,
            idempotency_key=spec.idempotency_key,
            webhook=canonical_webhook(spec),
            session_id=spec.session_id,
            request_id=spec.request_id,
            stream="1" if streams else None,
            first_call=(
                None
                if first_tokens is None
                else f"{provider} {wait_order(spec.priority, created_at)} {first_tokens}"
            ),
            cache_key=spec.cache_key,
            cache_ttl=spec.cache_ttl,
        )

    def _first_call_tokens(
        self, spec: JobSpec, chat: ChatRequest, instance: InstanceConfig
    ) -> int | None:
        """The tokens a completion's first provider call reserves (its record's
        ``first_call``), when the worker's request for that call is ``chat`` itself: not
        after a session's history, documents read into the prompt, or the gateway's own
        tool definitions, which only the worker adds (its claim then leaves the call to be
        admitted on its own)."""
        if spec.session_id or has_documents(spec.request.get("messages") or []):
            return None
        if gateway_tools(chat, self._tools):
            return None
        return call_tokens(chat, instance.limits.reply_tokens_estimate)

    def completion_for_cache(self, request: dict[str, Any]) -> dict[str, Any]:
        """A completion job's request as the response cache keys it: checked as
        ``prepare`` checks it (the same 4xx), in the canonical form the chat endpoint
        stores, so a job and a chat request that validate to the same request share an
        entry."""
        parsed = CompletionRequest.check(request, pass_unknown=self._pass_unknown_parameters)
        self._request_limits.check_chat(request)
        return parsed.canonical()

    def _prepare_embedding(self, spec: JobSpec) -> tuple[str, str, str]:
        """(model, instance, queue) of an embedding job: routed among the instances that
        serve the model for embeddings and can carry the request."""
        if spec.session_id is not None:
            raise InvalidRequest("session_id applies to completion jobs", param="session_id")
        call = embedding_call_from_openai(spec.request, max_inputs=self._embedding_max_inputs)
        request = call.request
        route = self._router.route(
            request.model,
            hint=call.provider,
            states=self._instance_states(),
            accepts=lambda inst: check_embedding(inst, request.model, request),
            kind="embedding",
        )
        return request.model, route.instance.name, route.queue

    def _prepare_token_count(self, spec: JobSpec) -> tuple[str, str, str]:
        """(model, instance, queue) of a token count: its request is a chat request,
        checked and routed as one (``tasks.kinds.token_count``)."""
        if spec.session_id is not None:
            raise InvalidRequest("session_id applies to completion jobs", param="session_id")
        CompletionRequest.check(spec.request, pass_unknown=self._pass_unknown_parameters)
        self._request_limits.check_chat(spec.request)
        chat = chat_request_from_openai(spec.request)
        route = self._router.route(
            chat.model,
            hint=_provider_hint(spec.request),
            states=self._instance_states(),
            accepts=lambda inst: check_request(inst, chat),
        )
        return chat.model, route.instance.name, route.queue

    def _prepare_enhancement(
        self, spec: JobSpec, param: str
    ) -> tuple[dict[str, Any], str, str, str]:
        """(normalized request, model, instance, queue) of an enhancement job."""
        if spec.session_id is not None:
            raise InvalidRequest(
                "an enhancement keeps its own conversation; session_id does not apply",
                param="session_id",
            )
        parsed = self.check_enhancement(EnhancementRequest.parse(spec.request, param), param)
        url = parsed.document.url
        if url is not None:
            # Stored, checked and fetched as the one spelling webhook URLs get too.
            document = parsed.document.model_copy(
                update={"url": canonical_url(url, param=f"{param}.document.url")}
            )
            parsed = parsed.model_copy(update={"document": document})
        route = self._router.route(
            parsed.model,
            hint=parsed.provider,
            states=self._instance_states(),
            accepts=lambda inst: check_request(inst, enhancement_chat(parsed, self._tools)),
        )
        return parsed.stored(), parsed.model, route.instance.name, route.queue

    def check_enhancement(
        self, parsed: EnhancementRequest, param: str = "request"
    ) -> EnhancementRequest:
        """What an enhancement needs beyond its schema: known tools and prompt version, and
        an inline document within the size limit. Returns it with its prompt version fixed,
        so the worker runs the version that was current at submission."""
        options = self.check_enhancement_options(parsed.options, f"{param}.options")
        text = parsed.document.text
        if text is not None and len(text.encode()) > self._document_max_bytes:
            raise PayloadTooLarge(
                f"{param}.document.text is over the {self._document_max_bytes}-byte limit",
                param=f"{param}.document.text",
            )
        return parsed.model_copy(update={"options": options})

    def check_enhancement_options(
        self, options: EnhancementOptions, param: str
    ) -> EnhancementOptions:
        """The options' tools are registered and their prompt version exists (400s); returns
        them with the version resolved (none given: the latest)."""
        for name in options.tools:
            if name not in self._tools:
                known = ", ".join(self._tools.names()) or "(none)"
                raise InvalidRequest(
                    f"{param}.tools: unknown tool {name!r}; registered tools: {known}",
                    param=f"{param}.tools",
                )
        try:
            version = prompt_version(self._prompts, options.prompt_version)
        except InvalidRequest as exc:
            raise InvalidRequest(exc.message, param=f"{param}.prompt_version") from None
        return options.model_copy(update={"prompt_version": version})

    async def check_outbound(self, record: JobRecord) -> None:
        """The job's webhook and document URLs: refused (400) when they reach loopback,
        private, link-local or metadata addresses the operator has not allowlisted."""
        if record.webhook:
            self._secrets.require(record.tenant)
            await self._outbound.check_url_async(record.webhook["url"], param="webhook.url")
        if record.type is JobType.ENHANCEMENT:
            url = record.request["document"].get("url")
            if url:
                await self._outbound.check_url_async(url, param="request.document.url")

    async def submit_answered(
        self, record: JobRecord, fields: dict[str, str] | None = None
    ) -> tuple[JobRecord, bool]:
        """Store a record that is already terminal, a completion answered from the response
        cache: (record, created) as ``submit`` returns. Nothing is queued, and the tenant's
        rpm/tpm and budgets are not consulted: nothing is spent (as with a hit at the chat
        endpoints). Its webhook is checked and scheduled as any finished job's."""
        await self.check_outbound(record)
        try:
            return await self._store.create_finished(record, fields)
        except RedisError as exc:
            log.error("submit_failed", job_id=record.id, error=type(exc).__name__)
            raise ServiceUnavailable("the job store is unavailable; try again") from exc

    async def submit(
        self, record: JobRecord, fields: dict[str, str] | None = None
    ) -> tuple[JobRecord, bool]:
        """Store the record and queue its message in one atomic step. Returns (record,
        created); an idempotent repeat returns the first job and queues nothing.
        ``fields``: the record's hash fields, when they were encoded off the event loop."""
        assert record.queue is not None
        await self.check_outbound(record)
        if record.session_id is not None and not await self._sessions.exists(
            record.session_id, record.tenant
        ):
            raise SessionNotFound(
                f"session {record.session_id[:64]!r} does not exist or has expired",
                param="session_id",
            )
        try:
            fields = fields if fields is not None else record.to_redis()
            # Last, once the job is sure to be stored: a refused request costs no quota.
            reserved = 0
            if self._admission is not None:
                estimate = estimate_tokens(len(fields.get("request", "")))
                reserved = await self._admission.admit(record.tenant, estimate)
            if reserved:
                record.tpm_reserved = reserved
                fields["tpm_reserved"] = str(reserved)
            # The message carries this span's context: the worker's task span is its child.
            attributes = _span_attributes(record) if tracing.enabled() else None
            with tracing.span(f"{RUN_JOB_TASK} send", "producer", attributes):
                message = self._messages.run_job(
                    record.id, record.queue, record.priority, record.request_id
                )
                return await self._store.create(record, message, fields)
        except RedisError as exc:
            log.error("submit_failed", job_id=record.id, error=type(exc).__name__)
            raise ServiceUnavailable("the job store is unavailable; try again") from exc
