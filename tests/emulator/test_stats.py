"""Concurrency stats (``/_emulator/stats``) and the outcome fields of recorded requests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from emulator import EmulatorControl, create_app, directive


def ask(oai: openai.OpenAI, content: str = "hi") -> openai.types.chat.ChatCompletion:
    return oai.chat.completions.create(model="m", messages=[{"role": "user", "content": content}])


def post_without_key(url: str) -> int:
    request = urllib.request.Request(url, data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_peak_in_flight_reaches_number_of_concurrent_slow_requests(
    oai: openai.OpenAI, control: EmulatorControl
) -> None:
    control.set_latency(300)
    with ThreadPoolExecutor(max_workers=5) as pool:
        replies = list(pool.map(lambda _: ask(oai), range(5)))
    assert [r.choices[0].message.content for r in replies] == ["echo: hi"] * 5
    assert control.stats() == {"in_flight": 0, "peak_in_flight": 5, "requests": 5}


def test_sequential_requests_peak_at_one(oai: openai.OpenAI, control: EmulatorControl) -> None:
    for _ in range(3):
        ask(oai)
    assert control.stats() == {"in_flight": 0, "peak_in_flight": 1, "requests": 3}


def test_clearing_requests_resets_peak_to_current_in_flight(
    oai: openai.OpenAI, control: EmulatorControl
) -> None:
    control.set_latency(200)
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda _: ask(oai), range(3)))
    assert control.stats()["peak_in_flight"] == 3
    control.clear_requests()
    assert control.stats() == {"in_flight": 0, "peak_in_flight": 0, "requests": 0}

    slow = threading.Thread(target=ask, args=(oai, directive(latency_ms=500)))
    slow.start()
    wait_until(lambda: control.stats()["in_flight"] == 1)
    control.clear_requests()
    assert control.stats() == {"in_flight": 1, "peak_in_flight": 1, "requests": 0}
    slow.join()
    assert control.stats() == {"in_flight": 0, "peak_in_flight": 1, "requests": 0}


def test_reset_also_resets_peak(oai: openai.OpenAI, control: EmulatorControl) -> None:
    ask(oai)
    control.reset()
    assert control.stats() == {"in_flight": 0, "peak_in_flight": 0, "requests": 0}


def test_records_carry_usage_for_successes_and_null_usage_for_errors(
    emulator_url: str, oai: openai.OpenAI, control: EmulatorControl
) -> None:
    reply = ask(oai, "count my tokens")
    control.script({"status": 429})
    with pytest.raises(openai.RateLimitError, match="429"):
        ask(oai)
    assert post_without_key(emulator_url + "/v1/chat/completions") == 401

    success, scripted_error, auth_error = control.requests()
    assert reply.usage is not None
    assert success["usage"] == {
        "prompt_tokens": reply.usage.prompt_tokens,
        "completion_tokens": reply.usage.completion_tokens,
    }
    assert (scripted_error["status"], scripted_error["usage"]) == (429, None)
    assert (auth_error["status"], auth_error["usage"]) == (401, None)
    for record in (success, scripted_error, auth_error):
        assert record["t"] <= record["t_done"]


def test_t_done_includes_the_latency(oai: openai.OpenAI, control: EmulatorControl) -> None:
    control.set_latency(200)
    ask(oai)
    control.script({"status": 503, "latency_ms": 150})
    with pytest.raises(openai.InternalServerError, match="503"):
        ask(oai)
    success, error = control.requests()
    # uvicorn runs on uvloop, whose libuv timers have millisecond granularity and can
    # fire up to ~1 ms early.
    slack = 0.002
    assert success["t_done"] >= success["t"] + 0.2 - slack
    assert error["t_done"] >= error["t"] + 0.15 - slack


# In-process ASGI calls, to break the connection at exact points.


def _chat_scope() -> dict[str, Any]:
    path = "/v1/chat/completions"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", b"Bearer x")],
        "server": ("emulator", 80),
        "client": ("test", 1),
    }


def _receive_once(body: dict[str, Any]) -> Receive:
    messages = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never hangs up by itself
        raise AssertionError("unreachable")

    return receive


def test_stream_stays_in_flight_until_sent_and_a_disconnect_does_not_leak() -> None:
    app = create_app()
    state = app.state.emulator
    seen: list[int] = []

    async def send(message: Message) -> None:
        seen.append(state.in_flight)
        if message["type"] == "http.response.body" and len(seen) == 3:
            raise OSError("client went away")

    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi there"}]}
    with pytest.raises(ClientDisconnect):
        asyncio.run(app(_chat_scope(), _receive_once(body), send))
    assert seen == [1, 1, 1]  # response start and two chunks, all while counted
    assert (state.in_flight, state.peak_in_flight) == (0, 1)


def test_request_cancelled_during_latency_is_not_leaked_nor_completed() -> None:
    app = create_app(latency_ms=10_000)
    state = app.state.emulator

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent before the latency elapses")

    async def cancel_while_sleeping() -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        task = asyncio.create_task(app(_chat_scope(), _receive_once(body), send))
        await asyncio.sleep(0.1)  # ample time to get into the 10 s latency sleep
        assert (state.in_flight, len(state.records())) == (1, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_sleeping())
    assert (state.in_flight, state.peak_in_flight) == (0, 1)
    [record] = state.records()
    assert (record["t_done"], record["usage"]) == (None, None)
