"""Tool loops through the real stack: the emulator plays a model that calls tools, the
workers run them against the downstream stand-in over HTTP, and the loop ends with an
answer or at a limit — never with a crash."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from emulator import EmulatorControl
from emulator.directives import directive
from emulator.downstream import DownstreamControl
from tests.support.processes import Stack, wait_until

GATEWAY_TOOLS = [
    {"type": "function", "function": {"name": name}}
    for name in ("search_corpus", "get_chunk", "review_code")
]
SEARCH = {"name": "search_corpus", "arguments": {"query": "tool loops results", "top_k": 2}}
CHUNK = {"name": "get_chunk", "arguments": {"chunk_id": "chunk-001"}}
REVIEW = {"name": "review_code", "arguments": {"code": "print(1)", "language": "python"}}


def scripted(*turns: dict[str, Any], text: str = "question") -> list[dict[str, Any]]:
    """A user message scripting one emulator entry per model turn."""
    return [{"role": "user", "content": f"{text} {directive(turns=list(turns))}"}]


def submit(
    client: httpx.Client,
    messages: list[dict[str, Any]],
    *,
    model: str = "gpt-4o-mini",
    tools: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> str:
    request = {"model": model, "messages": messages, "tools": tools or GATEWAY_TOOLS, **extra}
    response = client.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished(client: httpx.Client, job_id: str, seconds: float = 60) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": seconds})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def downstream_requests(stack: Stack) -> list[dict[str, Any]]:
    return DownstreamControl(stack.downstream_url).requests("/v1/")


def spent(emulator: EmulatorControl) -> int:
    """Tokens the emulator billed over every request it served."""
    return sum(
        r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in emulator.requests()
    )


def tool_messages(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in record["body"]["messages"] if m["role"] == "tool"]


def test_single_tool_call_runs_on_the_gateway_and_the_model_answers(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    job = finished(client_a, submit(client_a, scripted({"tool_calls": [SEARCH]}, {})))

    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["message"]["content"].startswith("tool results: ")
    assert "chunk-" in job["result"]["message"]["content"]
    loop = job["result"]["tool_loop"]
    assert loop["iterations"] == 1
    assert [(c["name"], c["ok"]) for c in loop["calls"]] == [("search_corpus", True)]
    seen = emulator.requests()
    assert [r["turn"] for r in seen] == [0, 1]
    # The registry's schema was sent, though the client named the tool only.
    sent = {t["function"]["name"]: t["function"] for t in seen[0]["body"]["tools"]}
    assert sent["search_corpus"]["parameters"]["properties"]["query"]["type"] == "string"
    # Usage and cost are the sum of both turns.
    turns_usage = [r["usage"] for r in seen]
    assert job["usage"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in turns_usage)
    assert job["usage"]["completion_tokens"] == sum(u["completion_tokens"] for u in turns_usage)
    assert job["cost_usd"] > 0
    calls = [r for r in downstream_requests(downstream) if r["path"] == "/v1/search"]
    assert len(calls) == 1
    assert calls[0]["body"]["query"] == "tool loops results"


def test_parallel_calls_in_one_turn_run_concurrently_and_answer_in_order(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    DownstreamControl(downstream.downstream_url).behave("/v1/", latency_ms=700)
    job = finished(
        client_a, submit(client_a, scripted({"tool_calls": [SEARCH, CHUNK, REVIEW]}, {}))
    )

    assert job["status"] == "succeeded", job["error"]
    calls = downstream_requests(downstream)
    assert len(calls) == 3
    # All three were in flight at once: each started before any of them ended.
    assert max(c["t_start"] for c in calls) < min(c["t_end"] for c in calls)
    answer_turn = emulator.requests()[1]
    call_ids = [c["id"] for c in emulator.requests()[1]["body"]["messages"][1]["tool_calls"]]
    results = tool_messages(answer_turn)
    assert [m["tool_call_id"] for m in results] == call_ids
    assert "chunk-001" in results[1]["content"]
    assert [c["name"] for c in job["result"]["tool_loop"]["calls"]] == [
        "search_corpus",
        "get_chunk",
        "review_code",
    ]


def test_multi_turn_chain_search_then_get_chunk_then_answer(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    job = finished(
        client_a,
        submit(
            client_a,
            scripted({"tool_calls": [SEARCH]}, {"tool_calls": [CHUNK]}, {"reply": "it hums"}),
        ),
    )

    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["message"]["content"] == "it hums"
    assert job["result"]["tool_loop"]["iterations"] == 2
    assert [r["turn"] for r in emulator.requests()] == [0, 1, 2]
    paths = [r["path"] for r in downstream_requests(downstream)]
    assert paths == ["/v1/search", "/v1/chunks/chunk-001"]
    # The last turn carried both rounds: call, result, call, result.
    roles = [m["role"] for m in emulator.requests()[2]["body"]["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]


def test_max_iterations_ends_the_job_with_a_clear_reason(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    messages = scripted({"tool_calls": [SEARCH]})  # a model that never stops calling
    job = finished(client_a, submit(client_a, messages, tool_loop={"max_iterations": 2}))

    assert job["status"] == "failed"
    assert job["error"]["type"] == "max_iterations_reached"
    assert job["error"]["param"] == "tool_loop.max_iterations"
    assert "2 tool rounds" in job["error"]["message"]
    assert len(emulator.requests()) == 3
    assert job["result"]["tool_loop"]["iterations"] == 2
    assert job["result"]["message"]["tool_calls"][0]["function"]["name"] == "search_corpus"
    assert job["usage"]["total_tokens"] == spent(emulator)
    assert len(downstream_requests(downstream)) == 2


def test_token_budget_stops_the_loop_before_more_is_spent(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    expensive = {"tool_calls": [SEARCH], "usage": {"prompt_tokens": 400, "completion_tokens": 100}}
    messages = scripted(expensive)
    job = finished(client_a, submit(client_a, messages, tool_loop={"max_total_tokens": 800}))

    assert job["status"] == "failed"
    assert job["error"]["type"] == "budget_exhausted"
    assert "800" in job["error"]["message"]
    # Turn 0 spent 500 and ran its tool; turn 1 spent 1000 in all; its tools did not run.
    assert len(emulator.requests()) == 2
    assert job["usage"]["total_tokens"] == 1000
    assert job["result"]["tool_loop"]["iterations"] == 1
    assert len(downstream_requests(downstream)) == 1


def test_cost_budget_stops_the_loop(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    expensive = {"tool_calls": [SEARCH], "usage": {"prompt_tokens": 10000, "completion_tokens": 0}}
    # gpt-4o-mini at $0.15 / Mtok input: one turn costs $0.0015.
    job_id = submit(client_a, scripted(expensive), tool_loop={"max_cost_usd": 0.001})
    job = finished(client_a, job_id)

    assert job["status"] == "failed"
    assert job["error"]["type"] == "budget_exhausted"
    assert len(emulator.requests()) == 1
    assert job["cost_usd"] == pytest.approx(0.0015)
    assert downstream_requests(downstream) == []


def test_cost_budget_on_a_model_without_a_price_is_refused_at_submission(
    client_a: httpx.Client,
) -> None:
    request = {
        # A test instance's model: no override, and the genai-prices catalogue has no such model.
        "model": "secondary-model",
        "messages": [{"role": "user", "content": "hi"}],
        "tool_loop": {"max_cost_usd": 1},
    }
    response = client_a.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_loop.max_cost_usd"


@pytest.mark.parametrize(
    ("tool_loop", "param"),
    [
        ({"max_iterations": 0}, "tool_loop.max_iterations"),
        ({"max_iterations": 10_000}, "tool_loop.max_iterations"),
        ({"max_total_tokens": "many"}, "tool_loop.max_total_tokens"),
        ({"surprise": 1}, "tool_loop"),
        ("fast", "tool_loop"),
    ],
)
def test_bad_tool_loop_options_are_a_400(
    client_a: httpx.Client, tool_loop: object, param: str
) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    response = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": {**request, "tool_loop": tool_loop}}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_downstream_down_reaches_the_model_as_a_tool_error_and_the_job_ends(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    downstream.stop_downstream()
    job = finished(client_a, submit(client_a, scripted({"tool_calls": [SEARCH]}, {})))

    assert job["status"] == "succeeded", job["error"]
    seen = tool_messages(emulator.requests()[1])
    error = json.loads(seen[0]["content"])["error"]
    assert error["type"] == "tool_unavailable"
    assert job["result"]["tool_loop"]["calls"][0]["error_type"] == "tool_unavailable"


def test_invalid_arguments_from_the_model_go_back_to_it_as_a_tool_error(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    bad = {"name": "search_corpus", "arguments": {"query": "x", "top_k": "lots"}}
    job = finished(client_a, submit(client_a, scripted({"tool_calls": [bad]}, {})))

    assert job["status"] == "succeeded", job["error"]
    error = json.loads(tool_messages(emulator.requests()[1])[0]["content"])["error"]
    assert error["type"] == "invalid_tool_arguments"
    assert "top_k" in error["message"]
    assert downstream_requests(downstream) == []


def test_calls_to_tools_the_gateway_does_not_know_go_back_to_the_client(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    both = [SEARCH, {"name": "get_weather", "arguments": {"city": "Lima"}}]
    job_id = submit(client_a, scripted({"tool_calls": both}), tools=[*GATEWAY_TOOLS, weather])
    job = finished(client_a, job_id)

    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["finish_reason"] == "tool_calls"
    names = [c["function"]["name"] for c in job["result"]["message"]["tool_calls"]]
    assert names == ["search_corpus", "get_weather"]
    # Nothing ran: the client answers every call of that turn itself.
    assert downstream_requests(downstream) == []
    assert len(emulator.requests()) == 1


def test_tool_circuit_opens_after_failures_and_recovers(
    downstream: Stack, client_a: httpx.Client
) -> None:
    control = DownstreamControl(downstream.downstream_url)
    control.behave("/v1/search", status=503)
    for _ in range(3):
        response = client_a.post("/v1/tools/execute", json=SEARCH)
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "tool_unavailable"
    before = len(downstream_requests(downstream))

    response = client_a.post("/v1/tools/execute", json=SEARCH)
    assert response.status_code == 503
    assert "circuit" in response.json()["error"]["message"]
    assert len(downstream_requests(downstream)) == before  # failed fast, service untouched
    circuit = client_a.get("/v1/tools").json()["services"]["semantic_search"]
    assert circuit["state"] == "open" and circuit["failures"] >= 3

    control.reset()
    time.sleep(2.2)  # the test stack's reset time is 2 s
    response = client_a.post("/v1/tools/execute", json=SEARCH)
    assert response.status_code == 200, response.text
    assert client_a.post("/v1/tools/execute", json=SEARCH).status_code == 200
    assert client_a.get("/v1/tools").json()["services"]["semantic_search"]["state"] == "closed"


def test_openai_sdk_gets_the_final_answer_of_a_tool_loop(
    downstream: Stack, emulator: EmulatorControl, stack: Stack
) -> None:
    from tests.conftest import KEY_A

    client = openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=scripted({"tool_calls": [SEARCH]}, {"tool_calls": [CHUNK]}, {"reply": "done"}),  # type: ignore[arg-type]
        tools=GATEWAY_TOOLS,  # type: ignore[arg-type]
        extra_body={"tool_loop": {"max_iterations": 3}},
    )
    assert completion.choices[0].message.content == "done"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == spent(emulator)


@pytest.fixture
def standby(stack: Stack) -> Iterator[Stack]:
    yield stack
    for name in ("standby", "standby2"):
        process = stack.processes.pop(name, None)
        if process is not None:
            process.kill()


def test_worker_killed_mid_loop_resumes_from_its_checkpoint(
    standby: Stack, downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    # Turn 0's tool takes 30 s, so the worker is killed while running it; the new worker
    # finds the model's tool-call turn in the checkpoint and does not ask for it again.
    DownstreamControl(downstream.downstream_url).behave("/v1/search", latency_ms=30_000, times=1)
    victim = standby.start_worker("standby", "llm.standby", concurrency=2)
    messages = scripted({"tool_calls": [SEARCH]}, {"tool_calls": [CHUNK]}, {"reply": "resumed"})
    job_id = submit(client_a, messages, model="standby-model")
    wait_until(lambda: len(downstream_requests(downstream)) == 1, 30, "the slow tool call")
    victim.kill()
    standby.start_worker("standby2", "llm.standby")

    job = finished(client_a, job_id, seconds=60)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["message"]["content"] == "resumed"
    turns = [r["turn"] for r in emulator.requests()]
    assert turns == [0, 1, 2], "no model turn may be paid for twice"
    # The tool whose result was not checkpointed ran again; nothing else did.
    paths = [r["path"] for r in downstream_requests(downstream)]
    assert paths == ["/v1/search", "/v1/search", "/v1/chunks/chunk-001"]


def test_every_turn_of_a_loop_passes_through_the_instances_limits(
    downstream: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    messages = scripted({"tool_calls": [SEARCH]}, {"tool_calls": [CHUNK]}, {"reply": "ok"})
    job = finished(client_a, submit(client_a, messages, model="limited-rpm-model"))
    assert job["status"] == "succeeded", job["error"]

    view = next(
        p for p in client_a.get("/v1/providers").json()["data"] if p["name"] == "limited-rpm"
    )
    # Three model turns, three admissions in the rpm window, and nothing left in flight.
    assert view["usage"]["requests_last_minute"] == 3
    assert view["in_flight"] == 0
