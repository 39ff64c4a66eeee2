"""``JobRunner``'s tool loop and sessions against a real Redis, with Python tools and a
scripted provider: turns are checkpointed, a redelivery resumes without repeating a
turn, and a session's messages land together with the job's result."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from gateway.errors import ProviderRejected
from providers.types import ChatResponse, Message, ToolCall, Usage
from tasks.jobs.record import JobStatus, JobType
from tasks.jobs.sync_store import SessionAppend, SyncJobStore
from tests.tasks.jobs.test_execution import ScriptedProvider, make_runner, put_job
from tools.registry import Tool, ToolRegistry

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
TOOLS = [{"type": "function", "function": {"name": "lookup"}}]
S1, S2 = "sess_" + "1" * 32, "sess_" + "2" * 32


def registry(seen: list[str] | None = None) -> ToolRegistry:
    tools = ToolRegistry()

    def lookup(args: Any) -> str:
        if seen is not None:
            seen.append(args["q"])
        return f"found {args['q']}"

    tools.register(Tool("lookup", "Look it up.", SCHEMA, runner=lookup))
    return tools


def calls(*queries: str) -> ChatResponse:
    tool_calls = tuple(ToolCall(f"call_{q}", "lookup", json.dumps({"q": q})) for q in queries)
    return ChatResponse(
        message=Message(role="assistant", tool_calls=tool_calls),
        finish_reason="tool_calls",
        usage=Usage(10, 5),
        model="m",
    )


def load(client: redis.Redis, job_id: str) -> Any:
    job = SyncJobStore(client).load(job_id)
    assert job is not None
    return job


def test_loop_runs_tools_feeds_results_back_and_sums_usage(isolated_redis: redis.Redis) -> None:
    seen: list[str] = []
    provider = ScriptedProvider([calls("a", "b"), calls("c"), "the answer"])
    job_id = put_job(isolated_redis, request={"tools": TOOLS})
    make_runner(isolated_redis, provider, tools=registry(seen)).run(job_id)

    job = load(isolated_redis, job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result["message"]["content"] == "the answer"
    assert job.result["tool_loop"]["iterations"] == 2
    assert sorted(seen) == ["a", "b", "c"]
    assert job.usage == {"prompt_tokens": 23, "completion_tokens": 12, "total_tokens": 35}
    # Every turn is a provider call, so an attempt; every reply is in the job's usage.
    assert job.attempts == len(provider.calls) == 3
    assert job.public()["orphaned_usage"] is None
    last = provider.calls[-1].messages
    assert [m.role for m in last] == ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert [m.tool_call_id for m in last if m.role == "tool"] == ["call_a", "call_b", "call_c"]
    assert json.loads(last[2].text) == {"output": "found a"}
    # The registry's definition was sent, though the request named the tool only.
    assert provider.calls[0].tools[0].parameters == SCHEMA


def test_redelivered_job_resumes_from_its_checkpoint(isolated_redis: redis.Redis) -> None:
    # A first delivery ran turn 0 and its tools, then its worker died.
    first = ScriptedProvider([calls("a")])
    job_id = put_job(isolated_redis, request={"tools": TOOLS})
    runner = make_runner(isolated_redis, first, tools=registry())
    job, _ = runner.store.claim(job_id, "dead-worker")
    assert job is not None
    runner.store.requeue(job_id, "dead-worker", delay_seconds=0)  # as if reaped
    checkpoint = {
        "produced": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "a"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": '{"output": "found a"}'},
        ],
        "iterations": 1,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        "cost_usd": None,
        "calls": [],
        "pending": False,
    }
    isolated_redis.hset(f"llmgw:job:{job_id}", "loop", json.dumps(checkpoint))

    second = ScriptedProvider(["done"])
    make_runner(isolated_redis, second, tools=registry()).run(job_id)
    job = load(isolated_redis, job_id)
    assert job.status is JobStatus.SUCCEEDED
    assert len(second.calls) == 1  # only the turn that had not happened
    assert [m.role for m in second.calls[0].messages] == ["user", "assistant", "tool"]
    assert job.usage["total_tokens"] == 15 + 5


def test_checkpoint_with_pending_calls_runs_the_tools_first(isolated_redis: redis.Redis) -> None:
    seen: list[str] = []
    loop = {
        "produced": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_z",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "z"}'},
                    }
                ],
            },
        ],
        "iterations": 0,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        "pending": True,
    }
    job_id = put_job(isolated_redis, request={"tools": TOOLS}, loop=loop)
    provider = ScriptedProvider(["done"])
    make_runner(isolated_redis, provider, tools=registry(seen)).run(job_id)

    assert seen == ["z"]
    assert len(provider.calls) == 1
    assert load(isolated_redis, job_id).result["tool_loop"]["iterations"] == 1


def test_each_turn_is_checkpointed_before_the_next_call(isolated_redis: redis.Redis) -> None:
    checkpoints: list[Any] = []
    job_id = put_job(isolated_redis, request={"tools": TOOLS})
    provider = ScriptedProvider([calls("a"), "done"])
    provider.before_return = lambda: checkpoints.append(
        isolated_redis.hget(f"llmgw:job:{job_id}", "loop")
    )
    make_runner(isolated_redis, provider, tools=registry()).run(job_id)
    assert checkpoints[0] is None
    second = json.loads(checkpoints[1])
    assert second["iterations"] == 1 and not second["pending"]
    assert [m["role"] for m in second["produced"]] == ["assistant", "tool"]


def test_max_iterations_fails_the_job_and_keeps_what_was_spent(
    isolated_redis: redis.Redis,
) -> None:
    provider = ScriptedProvider([calls("a"), calls("b"), calls("c")])
    job_id = put_job(isolated_redis, request={"tools": TOOLS})
    make_runner(isolated_redis, provider, tools=registry(), max_iterations=2).run(job_id)

    job = load(isolated_redis, job_id)
    assert job.status is JobStatus.FAILED
    assert job.error["type"] == "max_iterations_reached"
    assert job.usage["total_tokens"] == 45
    assert job.result["tool_loop"]["iterations"] == 2
    assert job.result["message"]["tool_calls"][0]["id"] == "call_c"


def test_a_job_that_lost_its_lease_mid_loop_stops_without_finishing(
    isolated_redis: redis.Redis,
) -> None:
    job_id = put_job(isolated_redis, request={"tools": TOOLS})
    provider = ScriptedProvider([calls("a"), "never"])
    # Another worker takes the job over while this one waits for the model.
    provider.before_return = lambda: isolated_redis.hset(f"llmgw:job:{job_id}", "lease", "thief")
    make_runner(isolated_redis, provider, tools=registry()).run(job_id)

    assert len(provider.calls) == 1
    job = load(isolated_redis, job_id)
    assert job.status is JobStatus.RUNNING and job.loop is None
    # The turn it paid for is not in the job's progress, but it is on the record.
    assert job.attempts == 1 and job.public()["orphaned_usage"]["total_tokens"] > 0


def put_session(client: redis.Redis, session_id: str, tenant: str = "t") -> None:
    client.hset(
        f"llmgw:session:{session_id}",
        mapping={
            "tenant": tenant,
            "created_at": time.time(),
            "ttl_seconds": 60,
            "context_budget_tokens": 1000,
            "metadata": "{}",
        },
    )
    client.rpush(
        f"llmgw:session:{session_id}:messages",
        json.dumps({"role": "user", "content": "earlier"}),
        json.dumps({"role": "assistant", "content": "before"}),
    )


def test_session_history_goes_first_and_the_job_appends_in_its_finish(
    isolated_redis: redis.Redis,
) -> None:
    put_session(isolated_redis, S1)
    isolated_redis.pexpire(f"llmgw:session:{S1}", 500)  # the append refreshes the TTL
    provider = ScriptedProvider(["now"])
    job_id = put_job(isolated_redis, session_id=S1)
    runner = make_runner(isolated_redis, provider)
    runner.run(job_id)
    runner.run(job_id)  # a duplicate delivery appends nothing

    assert [m.text for m in provider.calls[0].messages] == ["earlier", "before", "hi"]
    stored = [json.loads(m) for m in isolated_redis.lrange(f"llmgw:session:{S1}:messages", 0, -1)]
    assert [m["content"] for m in stored] == ["earlier", "before", "hi", "now"]
    assert isolated_redis.pttl(f"llmgw:session:{S1}") > 50_000
    assert isolated_redis.pttl(f"llmgw:session:{S1}:messages") > 50_000


def test_job_whose_session_is_gone_fails_with_session_not_found(
    isolated_redis: redis.Redis,
) -> None:
    provider = ScriptedProvider(["never"])
    job_id = put_job(isolated_redis, session_id="sess_" + "0" * 32)
    make_runner(isolated_redis, provider).run(job_id)
    job = load(isolated_redis, job_id)
    assert job.status is JobStatus.FAILED
    assert job.error["type"] == "session_not_found"
    assert provider.calls == []


def test_another_tenants_session_is_not_read(isolated_redis: redis.Redis) -> None:
    put_session(isolated_redis, S2, tenant="someone-else")
    provider = ScriptedProvider(["never"])
    job_id = put_job(isolated_redis, session_id=S2)
    make_runner(isolated_redis, provider).run(job_id)
    assert load(isolated_redis, job_id).error["type"] == "session_not_found"
    assert isolated_redis.llen(f"llmgw:session:{S2}:messages") == 2


def test_a_forced_tool_choice_applies_to_the_first_turn_only(isolated_redis: redis.Redis) -> None:
    provider = ScriptedProvider([calls("a"), "answered"])
    request = {"tools": TOOLS, "tool_choice": "required"}
    job_id = put_job(isolated_redis, request=request)
    make_runner(isolated_redis, provider, tools=registry()).run(job_id)

    assert load(isolated_redis, job_id).status is JobStatus.SUCCEEDED
    assert [c.tool_choice for c in provider.calls] == ["required", "auto"]


def test_a_provider_failure_after_tool_rounds_keeps_what_was_spent(
    isolated_redis: redis.Redis,
) -> None:
    rejected = ProviderRejected("context too long", provider="openai", upstream_status=400)
    provider = ScriptedProvider([calls("a"), rejected])
    job_id = put_job(isolated_redis, request={"tools": TOOLS})
    make_runner(isolated_redis, provider, tools=registry()).run(job_id)

    job = load(isolated_redis, job_id)
    assert job.status is JobStatus.FAILED and job.error["type"] == "provider_rejected"
    assert job.usage["total_tokens"] == 15
    assert job.result["tool_loop"]["iterations"] == 1


def test_a_cost_budget_of_zero_stops_before_the_first_call(isolated_redis: redis.Redis) -> None:
    provider = ScriptedProvider(["never"])
    job_id = put_job(isolated_redis, request={"tool_loop": {"max_cost_usd": 0}})
    make_runner(isolated_redis, provider).run(job_id)

    job = load(isolated_redis, job_id)
    assert job.status is JobStatus.FAILED and job.error["type"] == "budget_exhausted"
    assert provider.calls == []


def test_a_requests_cost_budget_on_an_instance_without_a_price_fails_clearly(
    isolated_redis: redis.Redis,
) -> None:
    provider = ScriptedProvider(["never"])
    job_id = put_job(isolated_redis, model="alias", request={"tool_loop": {"max_cost_usd": 1}})
    make_runner(isolated_redis, provider).run(job_id)

    job = load(isolated_redis, job_id)
    assert job.error["param"] == "tool_loop.max_cost_usd"
    assert provider.calls == []


def test_a_long_conversation_is_appended_to_its_session_in_slices(
    isolated_redis: redis.Redis,
) -> None:
    put_session(isolated_redis, S1)
    store = SyncJobStore(isolated_redis)
    job_id = put_job(isolated_redis, session_id=S1)
    job, _ = store.claim(job_id, "token")
    assert job is not None
    messages = [{"role": "user", "content": str(i)} for i in range(9000)]
    moved, _ = store.finish(
        job_id,
        "token",
        JobStatus.SUCCEEDED,
        session=SessionAppend(S1, "t", messages, max_messages=5000),
    )
    assert moved
    stored = isolated_redis.lrange(f"llmgw:session:{S1}:messages", 0, -1)
    assert len(stored) == 5000
    assert json.loads(stored[-1])["content"] == "8999"


def test_a_resumed_session_loop_keeps_the_prompt_its_first_turn_saw(
    isolated_redis: redis.Redis,
) -> None:
    put_session(isolated_redis, S1)
    job_id = put_job(isolated_redis, session_id=S1, request={"tools": TOOLS})
    # One round, then the provider fails the next turn for good.
    stopping = ScriptedProvider([calls("a"), ProviderRejected("stop here")])
    make_runner(isolated_redis, stopping, tools=registry()).run(job_id)
    checkpoint = json.loads(isolated_redis.hget(f"llmgw:job:{job_id}", "loop") or b"{}")
    assert [m["content"] for m in checkpoint["prompt"]] == ["earlier", "before", "hi"]

    # Meanwhile the session moves on; the job, run again, goes on from what it started.
    other = json.dumps({"role": "user", "content": "another job"})
    isolated_redis.rpush(f"llmgw:session:{S1}:messages", other)
    isolated_redis.hset(f"llmgw:job:{job_id}", "status", "queued")
    resumed = ScriptedProvider(["done"])
    make_runner(isolated_redis, resumed, tools=registry()).run(job_id)
    assert [m.text for m in resumed.calls[0].messages if m.role == "user"] == ["earlier", "hi"]


def test_a_tool_jobs_attempt_is_its_tool_run_made_only_by_the_holder(
    isolated_redis: redis.Redis,
) -> None:
    seen: list[str] = []
    runner = make_runner(isolated_redis, ScriptedProvider([]), tools=registry(seen))
    tool = runner.kinds[JobType.TOOL]
    request = {"name": "lookup", "arguments": {"q": "x"}}
    ours, lost = put_job(isolated_redis, request=request), put_job(isolated_redis, request=request)
    for job_id in (ours, lost):
        claimed, _ = runner.store.claim(job_id, "holder")
        assert claimed is not None
        tool.run(claimed, "holder" if job_id == ours else "a-worker-that-lost-it")
    assert seen == ["x"]
    assert (load(isolated_redis, ours).status, load(isolated_redis, ours).attempts) == (
        JobStatus.SUCCEEDED,
        1,
    )
    assert load(isolated_redis, lost).attempts == 0
