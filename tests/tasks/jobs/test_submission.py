"""``JobSubmitter.prepare``: what a completion's record says its first provider call needs
(``first_call``), so that the worker's claim can admit that call in the same step."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.outbound import OutboundPolicy
from gateway.settings import Settings
from limits.capacity import estimate_tokens, wait_order
from providers.config import ProvidersConfig
from providers.openai_format import chat_request_from_openai
from providers.router import ModelRouter
from tasks.jobs.record import JobRecord, JobType
from tasks.jobs.store import JobStore
from tasks.jobs.submission import JobSpec, JobSubmitter
from tasks.kinds.request_limits import RequestLimits
from tasks.loops.state import LoopLimits
from tasks.prompts.templates import PromptTemplates
from tasks.sessions.store import SessionStore
from tasks.webhooks.secrets import WebhookSecrets
from tools.registry import ToolRegistry, tool

PROVIDERS = ProvidersConfig.model_validate(
    {
        "instances": {
            "openai": {
                "type": "openai",
                "models": ["gpt-4o-mini"],
                "limits": {"reply_tokens_estimate": 300},
            }
        }
    }
)


def lookup(query: str) -> str:
    """Look something up."""
    return query


@pytest.fixture
def submitter() -> JobSubmitter:
    settings = Settings()
    redis = Redis()  # never connected: ``prepare`` stores nothing
    tools = ToolRegistry()
    tools.register(tool(lookup, parameters={"type": "object", "properties": {}}))
    return JobSubmitter(
        store=JobStore(redis, settings.job_ttl_seconds),
        router=ModelRouter(PROVIDERS),
        tools=tools,
        sessions=SessionStore(redis),
        loop_defaults=LoopLimits.defaults(settings),
        max_iterations_ceiling=settings.tool_loop_max_iterations_limit,
        outbound=OutboundPolicy.from_allowlist(""),
        secrets=WebhookSecrets.from_settings(settings),
        prompts=PromptTemplates(),
        document_max_bytes=settings.document_max_bytes,
        request_limits=RequestLimits.from_settings(settings),
    )


def spec(request: dict[str, Any], **extra: Any) -> JobSpec:
    return JobSpec(type=JobType.COMPLETION, request=request, tenant="t", **extra)


def test_a_plain_completion_says_its_calls_place_in_line_and_tokens(
    submitter: JobSubmitter,
) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a" * 40}]}
    record = submitter.prepare(spec(request, priority=7))
    tokens = estimate_tokens(chat_request_from_openai(request), 300)
    assert tokens == 10 + 300
    assert record.first_call == f"openai {wait_order(7, record.created_at)} {tokens}"
    # The place in line the worker computes from the stored record (its float created_at
    # read back) is the one the claim uses.
    stored = JobRecord.from_redis({k.encode(): v.encode() for k, v in record.to_redis().items()})
    assert record.first_call.split()[1] == str(wait_order(stored.priority, stored.created_at))


@pytest.mark.parametrize(
    ("request_extra", "spec_extra"),
    [
        pytest.param({}, {"session_id": "sess_1"}, id="after a session's history"),
        pytest.param(
            {"tools": [{"type": "function", "function": {"name": "lookup"}}]},
            {},
            id="with the gateway's own tool definitions",
        ),
        pytest.param(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "document",
                                "source": {"type": "url", "url": "https://x/y.pdf"},
                            }
                        ],
                    }
                ]
            },
            {},
            id="with documents read into the prompt",
        ),
    ],
)
def test_no_first_call_when_the_worker_builds_a_different_request(
    submitter: JobSubmitter, request_extra: dict[str, Any], spec_extra: dict[str, Any]
) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    record = submitter.prepare(spec({**request, **request_extra}, **spec_extra))
    assert record.first_call is None


def test_client_tools_the_gateway_does_not_run_keep_the_first_call(
    submitter: JobSubmitter,
) -> None:
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "client_side", "parameters": {}}}],
    }
    record = submitter.prepare(spec(request))
    assert record.first_call is not None
    tokens = estimate_tokens(chat_request_from_openai(request), 300)
    assert record.first_call.endswith(f" {tokens}")
