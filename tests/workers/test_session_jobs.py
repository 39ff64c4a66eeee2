"""Completion jobs in conversation sessions, through the real stack: history goes in
front of the request, the job's messages are appended atomically, budgets trim the
oldest turns, and sessions stay with their tenant and their TTL."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from emulator import EmulatorControl
from emulator.directives import directive
from tests.support.processes import Stack


def new_session(client: httpx.Client, **body: Any) -> str:
    response = client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def run(
    client: httpx.Client, session_id: str, text: str, model: str = "gpt-4o-mini", **extra: Any
) -> dict[str, Any]:
    request = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    response = client.post(
        "/v1/jobs", json={"type": "completion", "request": request, "session_id": session_id}
    )
    assert response.status_code == 202, response.text
    waited = client.get(f"/v1/jobs/{response.json()['id']}/wait", params={"timeout": 30})
    assert waited.status_code == 200, waited.text
    job: dict[str, Any] = waited.json()
    return job


def history(client: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def test_session_history_is_used_and_appended(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    session = new_session(client_a, system="You are terse.")
    first = run(client_a, session, "what is a llama?")
    assert first["status"] == "succeeded", first["error"]
    assert first["session_id"] == session
    assert [(m["role"], m["content"]) for m in history(client_a, session)] == [
        ("user", "what is a llama?"),
        ("assistant", "echo: what is a llama?"),
    ]

    second = run(client_a, session, "and an alpaca?")
    assert second["status"] == "succeeded", second["error"]
    sent = emulator.requests()[-1]["body"]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "You are terse."),
        ("user", "what is a llama?"),
        ("assistant", "echo: what is a llama?"),
        ("user", "and an alpaca?"),
    ]
    assert len(history(client_a, session)) == 4


def test_concurrent_jobs_on_one_session_keep_every_message(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    session = new_session(client_a)
    emulator.set_latency(200)
    texts = [f"question {i}" for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
        jobs = list(pool.map(lambda t: run(client_a, session, t), texts))
    assert all(j["status"] == "succeeded" for j in jobs)

    stored = history(client_a, session)
    assert len(stored) == 2 * len(texts)
    # Each job's messages went in together: a question is followed by its own answer.
    for question, answer in zip(stored[::2], stored[1::2], strict=True):
        assert question["role"] == "user"
        assert answer["content"] == f"echo: {question['content']}"
    assert sorted(m["content"] for m in stored[::2]) == sorted(texts)


def test_context_budget_trims_the_oldest_turns_but_never_the_system_prompt(
    emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    old = []
    for i in range(6):
        old += [
            {"role": "user", "content": f"turn {i} " + "x" * 200},
            {"role": "assistant", "content": f"answer {i} " + "y" * 200},
        ]
    session = new_session(client_a, system="Keep me.", messages=old, context_budget_tokens=250)
    job = run(client_a, session, "latest")
    assert job["status"] == "succeeded", job["error"]

    sent = emulator.requests()[-1]["body"]["messages"]
    assert sent[0] == {"role": "system", "content": "Keep me."}
    assert sent[-1]["content"] == "latest"
    kept = [m["content"].split(" ")[1] for m in sent[1:-1]]
    # ~103 tokens per old turn: two fit beside the system prompt and the new message.
    assert kept == ["4", "4", "5", "5"]
    # Trimming shapes the prompt only: the stored history keeps everything.
    assert len(history(client_a, session)) == len(old) + 2


def test_tool_loop_messages_are_appended_to_the_session(
    emulator: EmulatorControl, client_a: httpx.Client, stack: Stack
) -> None:
    session = new_session(client_a)
    search = {"name": "search_corpus", "arguments": {"query": "redis", "top_k": 1}}
    text = "find it " + directive(turns=[{"tool_calls": [search]}, {"reply": "found"}])
    tools = [{"type": "function", "function": {"name": "search_corpus"}}]
    job = run(client_a, session, text, tools=tools)
    assert job["status"] == "succeeded", job["error"]

    roles = [m["role"] for m in history(client_a, session)]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert history(client_a, session)[-1]["content"] == "found"


def test_expired_session_is_a_404_at_submission(client_a: httpx.Client) -> None:
    import time

    session = new_session(client_a, ttl_seconds=1)
    time.sleep(1.3)
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    response = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": request, "session_id": session}
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "session_not_found"
    assert client_a.get(f"/v1/sessions/{session}").status_code == 404


def test_another_tenants_session_cannot_be_used(
    client_a: httpx.Client, client_b: httpx.Client
) -> None:
    session = new_session(client_a)
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    response = client_b.post(
        "/v1/jobs", json={"type": "completion", "request": request, "session_id": session}
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "session_not_found"
    assert history(client_a, session) == []


@pytest.fixture
def standby(stack: Stack) -> Iterator[Stack]:
    yield stack
    process = stack.processes.pop("standby", None)
    if process is not None:
        process.stop()


def test_job_whose_session_expired_while_queued_fails_with_that_error(
    standby: Stack, emulator: EmulatorControl, client_a: httpx.Client
) -> None:
    session = new_session(client_a)
    request = {"model": "standby-model", "messages": [{"role": "user", "content": "hi"}]}
    response = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": request, "session_id": session}
    )
    assert response.status_code == 202
    assert client_a.delete(f"/v1/sessions/{session}").status_code == 204
    standby.start_worker("standby", "llm.standby", concurrency=1)

    waited = client_a.get(f"/v1/jobs/{response.json()['id']}/wait", params={"timeout": 30})
    job = waited.json()
    assert job["status"] == "failed"
    assert job["error"]["type"] == "session_not_found"
    assert emulator.requests() == []


def test_chat_completions_take_a_session_through_extra_body(
    emulator: EmulatorControl, client_a: httpx.Client, stack: Stack
) -> None:
    from tests.conftest import KEY_A

    session = new_session(client_a)
    sdk = openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0)
    for text in ("one", "two"):
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": text}],
            extra_body={"session_id": session},
        )
    assert [m["content"] for m in history(client_a, session)] == [
        "one",
        "echo: one",
        "two",
        "echo: two",
    ]
    with pytest.raises(openai.NotFoundError, match="session 'sess_missing' does not exist"):
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"session_id": "sess_missing"},
        )
