"""Streaming through the queue: the OpenAI SDK's ``stream=True`` on the gateway, the
resumable ``GET /v1/jobs/{id}/stream``, keep-alives while a job waits, and what a client
that goes away does to its job."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from emulator import EmulatorControl
from emulator.directives import directive
from tests.conftest import KEY_A, LIMIT_QUEUES
from tests.support.fleet import FLEET_VENDORS
from tests.support.openai_streams import streamed_tool_calls
from tests.support.processes import Stack, wait_until
from tests.support.sse import Event, events

LONG_REPLY = " ".join(f"word{i}" for i in range(60))


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as client:
        yield client


def submit_streaming(client: httpx.Client, content: str, model: str = "gpt-4o-mini") -> str:
    request = {"model": model, "messages": [{"role": "user", "content": content}], "stream": True}
    response = client.post("/v1/jobs", json={"type": "completion", "request": request})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def follow(
    client: httpx.Client, job_id: str, last_event_id: str | None = None, **params: Any
) -> list[Event]:
    headers = {"last-event-id": last_event_id} if last_event_id else {}
    with client.stream(
        "GET", f"/v1/jobs/{job_id}/stream", headers=headers, params=params, timeout=60
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [e for e in events(response) if e.comment is None]


def text_of(stream: list[Event]) -> str:
    return "".join(e.json()["text"] for e in stream if e.event == "text")


def test_sdk_stream_relays_the_answer_with_the_job_id_and_usage(
    sdk: openai.OpenAI, emulator: EmulatorControl
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"go {directive(reply=LONG_REPLY)}"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    job_id = raw.headers["x-llm-gateway-job-id"]
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == LONG_REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert emulator.requests()[-1]["body"]["stream"] is True
    # The streamed answer and the record agree, usage included.
    record = httpx.get(
        f"{sdk.base_url}jobs/{job_id}", headers={"authorization": f"Bearer {KEY_A}"}
    ).json()
    assert record["status"] == "succeeded"
    assert record["result"]["message"]["content"] == LONG_REPLY
    assert record["usage"] == chunks[-1].usage.model_dump(
        include={"prompt_tokens", "completion_tokens", "total_tokens"}
    )


def test_sdk_stream_assembles_a_tool_call(sdk: openai.OpenAI, emulator: EmulatorControl) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"weather {directive(tool_calls=[call])}"}],
        tools=[tool],  # type: ignore[list-item]
        stream=True,
    )
    calls, finish = streamed_tool_calls(stream)
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather"]
    assert calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == call["arguments"]


def test_a_job_that_fails_before_any_output_gets_its_status_not_a_stream(
    sdk: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": directive(status=400, error="too long")}],
            stream=True,
        )
    assert info.value.response.headers["x-llm-gateway-job-id"].startswith("job_")
    assert "too long" in str(info.value)


def test_job_stream_replays_from_the_start_and_resumes_after_last_event_id(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    job_id = submit_streaming(client_a, f"go {directive(reply=LONG_REPLY)}")
    whole = follow(client_a, job_id)
    assert whole[0].event == "attempt"
    assert whole[-1].event == "done"
    done = whole[-1].json()
    assert done["status"] == "succeeded"
    assert done["result"]["message"]["content"] == LONG_REPLY
    assert text_of(whole) == LONG_REPLY
    ids = [e.id for e in whole]
    assert all(ids) and len(set(ids)) == len(ids)
    # Disconnected after the 3rd event: reconnecting gets exactly the rest.
    rest = follow(client_a, job_id, last_event_id=whole[2].id)
    assert [(e.id, e.event, e.data) for e in rest] == [(e.id, e.event, e.data) for e in whole[3:]]
    # After the end, only the terminal event is left to send.
    assert [e.event for e in follow(client_a, job_id, last_event_id=whole[-2].id)] == ["done"]


def test_a_job_that_does_not_stream_is_followed_to_its_done_event(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "plain"}]}
    response = client_a.post("/v1/jobs", json={"type": "completion", "request": request})
    stream = follow(client_a, response.json()["id"])
    assert [e.event for e in stream] == ["done"]
    assert stream[0].json()["result"]["message"]["content"] == "echo: plain"


def test_another_tenant_cannot_follow_a_job(
    client_a: httpx.Client, client_b: httpx.Client, emulator: EmulatorControl
) -> None:
    job_id = submit_streaming(client_a, "mine")
    response = client_b.get(f"/v1/jobs/{job_id}/stream")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize("bad", ["abc", "1-2-3", "-1", "1" * 30 + "-0"])
def test_a_malformed_last_event_id_is_refused(
    client_a: httpx.Client, emulator: EmulatorControl, bad: str
) -> None:
    job_id = submit_streaming(client_a, "x")
    response = client_a.get(f"/v1/jobs/{job_id}/stream", headers={"last-event-id": bad})
    assert response.status_code in (400, 422)
    assert "error" in response.json()


def test_a_stream_waiting_behind_a_concurrency_limit_sends_keepalives_naming_the_job(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # single-file runs one call at a time: the second job waits for the first's 4 s.
    blocker = submit_streaming(client_a, directive(latency_ms=4000), model="single-file-model")
    wait_until(
        lambda: client_a.get(f"/v1/jobs/{blocker}").json()["status"] == "running", 30, "blocker"
    )
    waiting = submit_streaming(client_a, "after you", model="single-file-model")
    comments: list[str] = []
    data: list[Event] = []
    with client_a.stream("GET", f"/v1/jobs/{waiting}/stream", timeout=60) as response:
        for event in events(response):
            if event.comment is not None:
                comments.append(event.comment)
            else:
                data.append(event)
    assert data[-1].event == "done" and data[-1].json()["status"] == "succeeded"
    # Keep-alives came while it waited, before any output, each naming the job.
    assert len(comments) >= 2, comments
    assert all(c.startswith(f"job {waiting} ") for c in comments)
    assert any(("queued" in c or "waiting" in c) for c in comments), comments


def _stream_then_leave(stack: Stack, path: str, **kwargs: Any) -> str:
    """Open a stream, read until its first byte, then drop the connection; the job id."""
    headers = {"authorization": f"Bearer {KEY_A}"}
    with (
        httpx.Client(base_url=stack.api_url, headers=headers) as client,
        client.stream("POST", path, timeout=60, **kwargs) as response,
    ):
        assert response.status_code == 200, response.read()
        job_id = str(response.headers["x-llm-gateway-job-id"])
        next(response.iter_bytes())
    return job_id


@pytest.mark.parametrize("cancel", [True, False])
def test_a_client_that_goes_away_cancels_its_job_only_when_asked(
    stack: Stack, client_a: httpx.Client, emulator: EmulatorControl, cancel: bool
) -> None:
    # A slow first token: the stream is open (keep-alives) while the call runs.
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"slow {directive(latency_ms=3000)}"}],
        "stream": True,
        "cancel_on_disconnect": cancel,
    }
    job_id = _stream_then_leave(stack, "/v1/chat/completions", json=body)
    final = client_a.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 30}).json()
    assert final["status"] == ("cancelled" if cancel else "succeeded")


def test_a_client_that_leaves_before_the_first_byte_cancels_its_job_at_once(
    stack: Stack, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # The first token is 5 s away and the client gives up after 0.3 s, before even a
    # keep-alive (1 s here): the stream is already open on the API's side, so the job is
    # cancelled then, not when its first token arrives.
    marker = f"leave-early-{time.monotonic_ns()}"
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"{marker} {directive(latency_ms=5000)}"}],
        "stream": True,
        "cancel_on_disconnect": True,
    }
    headers = {"authorization": f"Bearer {KEY_A}"}
    with (
        httpx.Client(base_url=stack.api_url, headers=headers) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/v1/chat/completions", json=body, timeout=httpx.Timeout(10, read=0.3))
    left = time.monotonic()

    def cancelled() -> bool:
        page = client_a.get("/v1/jobs", params={"expand": "request", "limit": 20}).json()
        ours = [j for j in page["data"] if marker in json.dumps(j["request"])]
        return bool(ours) and ours[0]["status"] == "cancelled"

    wait_until(cancelled, 10, "the job cancelled")
    assert time.monotonic() - left < 3.0  # well before its first token (5 s)


def test_cancel_on_disconnect_must_be_a_boolean(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "cancel_on_disconnect": "yes",
    }
    response = client_a.post("/v1/chat/completions", json=body)
    assert response.status_code == 422  # a field of the body model, as every other
    assert response.json()["error"]["param"] == "cancel_on_disconnect"


def test_many_concurrent_streams_each_get_their_own_answer(
    stack: Stack, emulator: EmulatorControl
) -> None:
    results: dict[int, str] = {}

    def one(i: int) -> None:
        with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as client:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"n{i} {directive(latency_ms=300)}"}],
                stream=True,
            )
            results[i] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert time.monotonic() - started < 120
    assert results == {i: f"echo: n{i}" for i in range(40)}


SEARCH = {"name": "search_corpus", "arguments": {"query": "streams", "top_k": 1}}
GATEWAY_TOOLS = [{"type": "function", "function": {"name": "search_corpus"}}]


def _tool_loop_request(**extra: Any) -> dict[str, Any]:
    turns = directive(turns=[{"tool_calls": [SEARCH]}, {"reply": "found it"}])
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"look it up {turns}"}],
        "tools": GATEWAY_TOOLS,
        **extra,
    }


def test_a_tool_loop_streams_its_progress_and_then_the_answer(
    downstream: Stack, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    request = _tool_loop_request(stream=True)
    response = client_a.post("/v1/jobs", json={"type": "completion", "request": request})
    stream = follow(client_a, response.json()["id"])
    kinds = [e.event for e in stream]
    # Turn 0 calls the gateway's tool, the round's results are announced, turn 1 answers.
    assert kinds.index("tool_call") < kinds.index("tool_results") < kinds.index("text")
    attempts = [e.json() for e in stream if e.event == "attempt"]
    assert [a["turn"] for a in attempts] == [0, 1]
    (results,) = [e.json()["results"] for e in stream if e.event == "tool_results"]
    assert [(r["name"], r["ok"]) for r in results] == [("search_corpus", True)]
    assert text_of(stream) == "found it"
    assert stream[-1].json()["status"] == "succeeded"


def test_the_openai_relay_never_shows_the_gateways_own_tool_calls(
    downstream: Stack, sdk: openai.OpenAI, emulator: EmulatorControl
) -> None:
    request = _tool_loop_request()
    chunks = list(sdk.chat.completions.create(stream=True, **request))
    assert all(not c.choices or not c.choices[0].delta.tool_calls for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "found it"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


PACED_REPLY = " ".join(f"tok{i}" for i in range(20))
VENDOR_MODELS = [
    pytest.param("gpt-4o-mini", {}, id="openai"),
    pytest.param("claude-sonnet-4-5", {}, id="anthropic"),
    *(
        pytest.param(vendor.models[0], vendor.pin, id=name)
        for name, vendor in FLEET_VENDORS.items()
    ),
]


@pytest.mark.parametrize(("model", "pin"), VENDOR_MODELS)
def test_every_provider_type_streams_tokens_as_they_are_produced(
    sdk: openai.OpenAI, emulator: EmulatorControl, model: str, pin: dict[str, Any]
) -> None:
    paced = directive(reply=PACED_REPLY, token_interval_ms=60)
    stream = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"pace {paced}"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body=pin,
    )
    arrivals: list[float] = []
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
            text += chunk.choices[0].delta.content
        usage = chunk.usage or usage
    assert text == PACED_REPLY
    # Relayed as produced: many chunks, spread over the emulator's ~1.2 s of pacing rather
    # than arriving together at the end.
    assert len(arrivals) >= 10
    assert arrivals[-1] - arrivals[0] > 0.5
    assert (
        usage is not None
        and usage.completion_tokens == emulator.requests()[-1]["usage"]["completion_tokens"]
    )
    assert emulator.requests()[-1]["stream"] is True


def test_a_provider_failing_mid_stream_ends_the_stream_with_an_error_and_is_not_retried(
    sdk: openai.OpenAI, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    broken = directive(reply=PACED_REPLY, stream_fault="error", fault_after=5)
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"break {broken}"}],
        stream=True,
    )
    job_id = raw.headers["x-llm-gateway-job-id"]
    text = ""
    with pytest.raises(openai.APIError, match="mid-stream"):
        for chunk in raw.parse():
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text and PACED_REPLY.startswith(text)
    record = client_a.get(f"/v1/jobs/{job_id}").json()
    assert record["status"] == "failed"
    assert record["error"]["type"] == "stream_interrupted"
    # Output had reached the client: a second call would have sent a different beginning.
    assert len(emulator.requests()) == 1


def test_a_provider_failing_before_any_output_is_retried_invisibly(
    sdk: openai.OpenAI, emulator: EmulatorControl
) -> None:
    emulator.script(
        {"reply": "x", "stream_fault": "cut", "fault_after": 0}, {"reply": "second try"}
    )
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "retry me"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "second try"
    assert len(emulator.requests()) == 2


def test_a_worker_killed_mid_stream_restarts_the_answer_visibly(
    stack: Stack, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    slow = directive(reply=PACED_REPLY, token_interval_ms=300)
    job_id = submit_streaming(client_a, f"slow {slow}", model="slow-model")
    seen: list[Event] = []
    killed = False
    with client_a.stream("GET", f"/v1/jobs/{job_id}/stream", timeout=120) as response:
        for event in events(response):
            if event.comment is not None:
                continue
            seen.append(event)
            if not killed and len([e for e in seen if e.event == "text"]) == 3:
                killed = True
                # Every worker that serves slow-model, mid-answer.
                for name in ("limits1", "limits2", "limits3"):
                    stack.processes[name].kill()
                for name in ("limits1", "limits2", "limits3"):
                    stack.start_worker(name, LIMIT_QUEUES)
            if event.event == "done":
                break
    attempts = [e.json() for e in seen if e.event == "attempt"]
    assert [a["turn"] for a in attempts] == [0, 0], attempts
    restart = [e.event for e in seen].index("attempt", 1)
    # The second attempt's text is whole; nothing of the first is spliced into it.
    assert text_of(seen[restart:]) == PACED_REPLY
    done = seen[-1].json()
    assert done["status"] == "succeeded" and done["attempts"] >= 2
    assert done["result"]["message"]["content"] == PACED_REPLY


@pytest.mark.parametrize(
    "fields",
    [{"stream": "yes"}, {"stream": 1}, {"stream_options": {"include_usage": True}}],
    ids=["stream-string", "stream-int", "stream-options-without-stream"],
)
def test_bad_stream_fields_get_a_clear_4xx(
    client_a: httpx.Client, emulator: EmulatorControl, fields: dict[str, Any]
) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], **fields}
    response = client_a.post("/v1/chat/completions", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["param"].startswith("stream")
