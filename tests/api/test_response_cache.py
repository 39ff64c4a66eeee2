"""The response cache at the sync chat endpoints, with the real stack: a hit is answered
from Redis without reaching the emulator, replayed as a stream, counted on /metrics."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.openai_streams import streamed_tool_calls
from tests.support.processes import Stack

USE = {"x-llm-gateway-cache": "use"}


@pytest.fixture
def sdk(stack: Stack, emulator: EmulatorControl) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as client:
        yield client


def _body(text: str | None = None, **params: Any) -> dict[str, Any]:
    # A prompt of its own per test: entries outlive a test (the cache is not cleaned).
    content = text or f"cache me {uuid.uuid4().hex}"
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **params}


def _calls(emulator: EmulatorControl) -> int:
    return len(emulator.requests())


def _cache_counters(client: httpx.Client) -> dict[str, float]:
    counts = {"hit": 0.0, "miss": 0.0}
    for line in client.get("/metrics").text.splitlines():
        for result in counts:
            if line.startswith(f'llm_gateway_cache_requests_total{{result="{result}"}}'):
                counts[result] = float(line.split()[-1])
    return counts


def test_a_repeat_is_a_hit_that_never_reaches_the_provider(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body()
    first = client_a.post("/v1/chat/completions", json=body, headers=USE)
    assert first.status_code == 200, first.text
    assert first.headers["x-llm-gateway-cache"] == "miss"
    calls = _calls(emulator)
    second = client_a.post("/v1/chat/completions", json=body, headers=USE)
    assert second.status_code == 200, second.text
    assert second.headers["x-llm-gateway-cache"] == "hit"
    assert "x-llm-gateway-job-id" not in second.headers
    assert _calls(emulator) == calls
    assert second.json()["choices"][0]["message"] == first.json()["choices"][0]["message"]
    assert second.json()["usage"] == first.json()["usage"]


def test_key_order_and_whitespace_do_not_matter_but_a_parameter_does(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body(temperature=0.5, max_tokens=50)
    first = client_a.post("/v1/chat/completions", json=body, headers=USE)
    assert first.headers["x-llm-gateway-cache"] == "miss"
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=3)
    same = client_a.post(
        "/v1/chat/completions",
        content=reordered,
        headers={**USE, "content-type": "application/json"},
    )
    assert same.headers["x-llm-gateway-cache"] == "hit", same.text
    calls = _calls(emulator)
    warmer = client_a.post("/v1/chat/completions", json={**body, "temperature": 0.6}, headers=USE)
    assert warmer.status_code == 200
    assert warmer.headers["x-llm-gateway-cache"] == "miss"
    assert _calls(emulator) == calls + 1


def test_another_tenant_misses(
    client_a: httpx.Client, client_b: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body()
    client_a.post("/v1/chat/completions", json=body, headers=USE)
    other = client_b.post("/v1/chat/completions", json=body, headers=USE)
    assert other.status_code == 200
    assert other.headers["x-llm-gateway-cache"] == "miss"


def test_off_neither_reads_nor_stores_and_refresh_stores_without_reading(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body()
    off = client_a.post("/v1/chat/completions", json=body, headers={"x-llm-gateway-cache": "off"})
    assert off.status_code == 200 and "x-llm-gateway-cache" not in off.headers
    assert (
        client_a.post("/v1/chat/completions", json=body, headers=USE).headers["x-llm-gateway-cache"]
        == "miss"
    )
    calls = _calls(emulator)
    refresh = {"x-llm-gateway-cache": "refresh"}
    refreshed = client_a.post("/v1/chat/completions", json=body, headers=refresh)
    assert refreshed.headers["x-llm-gateway-cache"] == "stored"
    assert _calls(emulator) == calls + 1
    assert (
        client_a.post("/v1/chat/completions", json=body, headers=USE).headers["x-llm-gateway-cache"]
        == "hit"
    )


def test_a_failed_answer_is_not_cached(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    body = _body(directive(status=400, error="refused") + uuid.uuid4().hex)
    failed = client_a.post("/v1/chat/completions", json=body, headers=USE)
    assert failed.status_code >= 400
    assert failed.headers["x-llm-gateway-cache"] == "miss"
    calls = _calls(emulator)
    again = client_a.post("/v1/chat/completions", json=body, headers=USE)
    assert again.status_code >= 400
    assert again.headers["x-llm-gateway-cache"] == "miss"
    assert _calls(emulator) > calls


def test_a_streamed_request_that_fails_before_any_output_says_what_the_cache_did(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body(directive(status=400, error="refused") + uuid.uuid4().hex, stream=True)
    failed = client_a.post("/v1/chat/completions", json=body, headers=USE)
    assert failed.status_code == 400
    assert failed.headers["content-type"].startswith("application/json")
    assert failed.headers["x-llm-gateway-cache"] == "miss"
    assert failed.headers["x-llm-gateway-job-id"].startswith("job_")


def test_an_entry_expires_with_its_ttl(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    body = _body()
    short = {**USE, "x-llm-gateway-cache-ttl": "1"}
    assert client_a.post("/v1/chat/completions", json=body, headers=short).status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1.2)
        again = client_a.post("/v1/chat/completions", json=body, headers=USE)
        if again.headers["x-llm-gateway-cache"] == "miss":
            return
    pytest.fail("the entry outlived its 1 s TTL by 30 s")


@pytest.mark.parametrize(
    ("headers", "param"),
    [
        ({"x-llm-gateway-cache": "sometimes"}, "x-llm-gateway-cache"),
        ({**USE, "x-llm-gateway-cache-ttl": "0"}, "x-llm-gateway-cache-ttl"),
        ({**USE, "x-llm-gateway-cache-ttl": "soon"}, "x-llm-gateway-cache-ttl"),
        ({**USE, "x-llm-gateway-cache-ttl": "99999999"}, "x-llm-gateway-cache-ttl"),
    ],
)
def test_bad_cache_headers_are_400s_naming_them(
    client_a: httpx.Client, headers: dict[str, str], param: str
) -> None:
    response = client_a.post("/v1/chat/completions", json=_body(), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_a_session_request_is_not_cached(client_a: httpx.Client) -> None:
    session = client_a.post("/v1/sessions", json={}).json()
    body = _body(session_id=session["id"])
    response = client_a.post("/v1/chat/completions", json=body, headers=USE)
    assert response.status_code == 200, response.text
    assert response.headers["x-llm-gateway-cache"] == "skip"


def test_a_document_by_url_is_not_cached(client_a: httpx.Client) -> None:
    part = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.txt"}}
    message = {"role": "user", "content": [{"type": "text", "text": "hi"}, part]}
    body = {"model": "gpt-4o-mini", "messages": [message]}
    response = client_a.post("/v1/chat/completions", json=body, headers=USE)
    # Refused here by the outbound guard (example.com is not reachable): an error carries
    # what the cache did too.
    assert response.headers["x-llm-gateway-cache"] == "skip", response.text


def test_a_streamed_hit_replays_through_the_openai_sdk(
    sdk: openai.OpenAI, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body()
    computed = client_a.post("/v1/chat/completions", json=body, headers=USE).json()
    calls = _calls(emulator)
    stream = sdk.chat.completions.create(
        model=body["model"],
        messages=body["messages"],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=USE,
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage.model_dump(exclude_none=True)
    assert text == computed["choices"][0]["message"]["content"]
    assert finish == computed["choices"][0]["finish_reason"]
    assert usage is not None and usage["total_tokens"] == computed["usage"]["total_tokens"]
    assert _calls(emulator) == calls


def test_a_streamed_miss_is_stored_and_ends_with_done(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body(stream=True)
    with client_a.stream("POST", "/v1/chat/completions", json=body, headers=USE) as live:
        assert live.headers["x-llm-gateway-cache"] == "miss"
        lines = [line for line in live.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    with client_a.stream("POST", "/v1/chat/completions", json=body, headers=USE) as hit:
        assert hit.headers["x-llm-gateway-cache"] == "hit"
        replayed = [line for line in hit.iter_lines() if line.startswith("data:")]
    assert replayed[-1] == "data: [DONE]"


def test_messages_hit_in_anthropic_shape_and_stream(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": f"messages {uuid.uuid4().hex}"}],
    }
    first = client_a.post("/v1/messages", json=body, headers=USE)
    assert first.status_code == 200, first.text
    assert first.headers["x-llm-gateway-cache"] == "miss"
    calls = _calls(emulator)
    hit = client_a.post("/v1/messages", json=body, headers=USE)
    assert hit.headers["x-llm-gateway-cache"] == "hit"
    assert hit.json()["content"] == first.json()["content"]
    with client_a.stream("POST", "/v1/messages", json={**body, "stream": True}, headers=USE) as s:
        assert s.headers["x-llm-gateway-cache"] == "hit"
        events = [line for line in s.iter_lines() if line.startswith("event:")]
    assert events[0] == "event: message_start" and events[-1] == "event: message_stop"
    assert _calls(emulator) == calls


def test_hits_and_misses_are_counted_on_metrics(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    before = _cache_counters(client_a)
    body = _body()
    client_a.post("/v1/chat/completions", json=body, headers=USE)
    client_a.post("/v1/chat/completions", json=body, headers=USE)
    client_a.post("/v1/chat/completions", json=body, headers=USE)
    after = _cache_counters(client_a)
    assert after["miss"] - before["miss"] == 1
    assert after["hit"] - before["hit"] == 2


def test_a_cached_tool_call_replays_whole_in_a_stream(
    sdk: openai.OpenAI, client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # A tool the client runs (not the gateway's): the answer is the model's call, cacheable.
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    content = f"weather {uuid.uuid4().hex} {directive(tool_calls=[call])}"
    body = _body(content, tools=[tool])
    computed = client_a.post("/v1/chat/completions", json=body, headers=USE).json()
    assert computed["choices"][0]["finish_reason"] == "tool_calls"
    stream = sdk.chat.completions.create(
        model=body["model"],
        messages=body["messages"],
        tools=[tool],  # type: ignore[list-item]
        stream=True,
        extra_headers=USE,
    )
    calls, finish = streamed_tool_calls(stream)
    assert finish == "tool_calls"
    expected = computed["choices"][0]["message"]["tool_calls"][0]
    assert calls[0]["id"] == expected["id"]
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == call["arguments"]


@pytest.fixture(scope="module")
def tenant_default_api(stack: Stack) -> Iterator[str]:
    limits = {"tenant_a": {"cache_ttl_seconds": 300}}
    env = {"LLM_GATEWAY_TENANT_LIMITS": json.dumps(limits)}
    yield stack.start_extra_api("cache-default-api", env, ready_within=120)
    stack.stop_process("cache-default-api")


def test_a_tenant_default_turns_the_cache_on_and_the_header_off_turns_it_off(
    tenant_default_api: str, emulator: EmulatorControl
) -> None:
    auth = {"Authorization": f"Bearer {KEY_A}"}
    with httpx.Client(base_url=tenant_default_api, headers=auth, timeout=60) as client:
        body = _body()
        assert client.post("/v1/chat/completions", json=body).headers["x-llm-gateway-cache"] == (
            "miss"
        )
        assert client.post("/v1/chat/completions", json=body).headers["x-llm-gateway-cache"] == (
            "hit"
        )
        off = client.post("/v1/chat/completions", json=body, headers={"x-llm-gateway-cache": "off"})
        assert off.status_code == 200 and "x-llm-gateway-cache" not in off.headers


def _tenant_jobs_total(client: httpx.Client) -> float:
    lines = client.get("/metrics").text.splitlines()
    return sum(
        float(line.split()[-1])
        for line in lines
        if line.startswith("llm_gateway_jobs_total{") and 'tenant="tenant_a"' in line
    )


def test_a_hit_is_no_job_and_costs_nothing(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _body()
    miss = client_a.post("/v1/chat/completions", json=body, headers=USE)
    job = client_a.get(f"/v1/jobs/{miss.headers['x-llm-gateway-job-id']}").json()
    assert job["status"] == "succeeded"
    assert job["cache"] == {"hit": False, "ttl_seconds": 3600, "age_seconds": None}
    before = _tenant_jobs_total(client_a)
    jobs_before = client_a.get("/v1/jobs").json()["data"]
    for _ in range(3):
        assert (
            client_a.post("/v1/chat/completions", json=body, headers=USE).headers[
                "x-llm-gateway-cache"
            ]
            == "hit"
        )
    assert _tenant_jobs_total(client_a) == before
    assert client_a.get("/v1/jobs").json()["data"] == jobs_before
