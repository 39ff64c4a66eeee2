"""The heavy lane (``api.heavy_lane``): large bodies are served by a sibling API process,
with the same answers as in-process, streams included, and no request lost when the
sibling is unreachable or killed; the sibling never outlives its API."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import orjson
import pytest

from emulator import EmulatorControl
from emulator.directives import directive
from tests.conftest import KEY_A
from tests.support.heavy_lane import LANE_ENV, lane_count, sibling_of, socket_of, wait_for_lane
from tests.support.local_stack import alive
from tests.support.processes import Stack, wait_until

AUTH = {"authorization": f"Bearer {KEY_A}"}
# ~96 KiB of prompt: over the lane's 64 KiB threshold (LANE_ENV).
PADDING = "lorem ipsum " * 8000
LONG_REPLY = " ".join(f"word{i}" for i in range(12))


@dataclass(frozen=True)
class LaneApi:
    url: str
    pid: int


@pytest.fixture(scope="module")
def lane_api(stack: Stack) -> Iterator[LaneApi]:
    url = stack.start_extra_api("api-lane", LANE_ENV)
    process = stack.processes["api-lane"].proc
    assert process is not None
    wait_for_lane(url, process.pid, KEY_A)
    yield LaneApi(url, process.pid)
    stack.stop_process("api-lane")


def chat(content: str, **extra: Any) -> dict[str, Any]:
    message = {"role": "user", "content": content}
    return {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [message], **extra}


def heavy_chat(content: str, **extra: Any) -> dict[str, Any]:
    return chat(f"{PADDING}{content}", **extra)


def ask(api: LaneApi, reply: str, **directives: Any) -> httpx.Response:
    body = heavy_chat(directive(reply=reply, **directives))
    return httpx.post(f"{api.url}/v1/chat/completions", json=body, headers=AUTH, timeout=60)


def http_count(api_url: str, route: str, status: int) -> float:
    text = httpx.get(f"{api_url}/metrics", timeout=30).text
    line = f'llm_gateway_http_requests_total{{method="POST",route="{route}",status="{status}"}}'
    values = [float(row.rsplit(" ", 1)[1]) for row in text.splitlines() if row.startswith(line)]
    return sum(values)


def test_a_heavy_chat_completion_is_answered_by_the_sibling(
    lane_api: LaneApi, emulator: EmulatorControl
) -> None:
    forwarded = lane_count(lane_api.url, "forwarded")
    served = http_count(lane_api.url, "/v1/chat/completions", 200)
    body = heavy_chat(directive(reply="through the lane"))
    response = httpx.post(
        f"{lane_api.url}/v1/chat/completions",
        json=body,
        headers={**AUTH, "x-request-id": "lane-test-1"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "through the lane"
    assert response.headers["x-request-id"] == "lane-test-1"
    assert response.headers["x-llm-gateway-job-id"]
    assert lane_count(lane_api.url, "forwarded") == forwarded + 1
    # The sibling's own HTTP metrics are in this API's /metrics (one multiprocess dir).
    assert http_count(lane_api.url, "/v1/chat/completions", 200) == served + 1
    # The whole prompt reached the provider.
    assert PADDING in emulator.requests()[-1]["body"]["messages"][0]["content"]


def test_a_heavy_streamed_completion_arrives_as_it_is_produced(
    lane_api: LaneApi, emulator: EmulatorControl
) -> None:
    forwarded = lane_count(lane_api.url, "forwarded")
    content = f"{PADDING}{directive(reply=LONG_REPLY, token_interval_ms=150)}"
    arrivals: list[float] = []
    texts: list[str] = []
    with openai.OpenAI(base_url=f"{lane_api.url}/v1", api_key=KEY_A, max_retries=0) as sdk:
        stream = sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": content}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic())
                texts.append(chunk.choices[0].delta.content)
    assert "".join(texts) == LONG_REPLY
    assert len(texts) >= 6
    # 12 tokens 150 ms apart: relayed as they came, the first arrived well before the last
    # (all at once, the spread would be ~0).
    assert arrivals[-1] - arrivals[0] > 0.6
    assert lane_count(lane_api.url, "forwarded") == forwarded + 1


def test_a_client_leaving_a_heavy_stream_cancels_its_job_through_the_sibling(
    lane_api: LaneApi, emulator: EmulatorControl
) -> None:
    body = heavy_chat(directive(latency_ms=3000), stream=True, cancel_on_disconnect=True)
    with (
        httpx.Client(base_url=lane_api.url, headers=AUTH) as client,
        client.stream("POST", "/v1/chat/completions", json=body, timeout=60) as response,
    ):
        assert response.status_code == 200, response.read()
        job_id = response.headers["x-llm-gateway-job-id"]
        next(response.iter_bytes())
    final = httpx.get(
        f"{lane_api.url}/v1/jobs/{job_id}/wait", params={"timeout": 30}, headers=AUTH, timeout=60
    )
    assert final.json()["status"] == "cancelled"


def test_a_client_leaving_mid_upload_is_neither_served_nor_an_error(
    stack: Stack, lane_api: LaneApi
) -> None:
    outcomes = ("forwarded", "fallback", "failed")
    before = {outcome: lane_count(lane_api.url, outcome) for outcome in outcomes}
    log = stack.processes["api-lane"]
    errors = log.output().count("Exception in ASGI application")
    host, port = lane_api.url.removeprefix("http://").split(":")
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: lane-test\r\n"
        f"authorization: Bearer {KEY_A}\r\ncontent-type: application/json\r\n"
        "content-length: 100000\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + b'{"model": "gpt-4o-mini", ' + b" " * 40_000)
        time.sleep(0.5)  # whether forwarding started by then or not, the same must hold
    # The API is fine, nothing was counted (not forwarded whole, not served here), and
    # nothing failed.
    assert httpx.get(f"{lane_api.url}/health", timeout=30).status_code == 200
    time.sleep(0.5)
    assert {outcome: lane_count(lane_api.url, outcome) for outcome in outcomes} == before
    assert log.output().count("Exception in ASGI application") == errors


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_bad_heavy_body_gets_the_same_error_as_a_small_one(lane_api: LaneApi, path: str) -> None:
    forwarded = lane_count(lane_api.url, "forwarded")
    headers = {**AUTH, "content-type": "application/json"}
    with httpx.Client(base_url=lane_api.url, headers=headers, timeout=30) as client:
        # Broken at the same place (the message says where).
        small, heavy = (client.post(path, content=b"{x" + b" " * n) for n in (10, 100_000))
        assert heavy.status_code == small.status_code == 400
        assert heavy.json() == small.json()
        # Not a request: the same 4xx (a heavy body is validated in the sibling).
        small, heavy = (
            client.post(path, json={"model": 7, "messages": [], "pad": "x" * n})
            for n in (10, 100_000)
        )
        assert heavy.status_code == small.status_code
        assert 400 <= heavy.status_code < 500
        assert heavy.json() == small.json()
        # Without credentials: refused by the sibling as here.
        small, heavy = (
            client.post(path, json=chat("x" * n), headers={"authorization": ""})
            for n in (10, 100_000)
        )
        assert heavy.status_code == small.status_code == 401
        assert heavy.json() == small.json()
    assert lane_count(lane_api.url, "forwarded") == forwarded + 3


def test_an_over_limit_body_is_refused_here_without_the_sibling(lane_api: LaneApi) -> None:
    forwarded = lane_count(lane_api.url, "forwarded")
    response = httpx.post(
        f"{lane_api.url}/v1/chat/completions",
        content=b"x" * (1_048_576 + 1),
        headers={**AUTH, "content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    assert lane_count(lane_api.url, "forwarded") == forwarded


def test_a_heavy_body_without_content_length_is_served_here(
    lane_api: LaneApi, emulator: EmulatorControl
) -> None:
    forwarded = lane_count(lane_api.url, "forwarded")
    body = orjson.dumps(heavy_chat(directive(reply="chunked")))

    def chunks() -> Iterator[bytes]:  # sent chunked: the size is unknown until read
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    response = httpx.post(
        f"{lane_api.url}/v1/chat/completions",
        content=chunks(),
        headers={**AUTH, "content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "chunked"
    assert lane_count(lane_api.url, "forwarded") == forwarded


def test_an_unreachable_or_killed_sibling_loses_no_request_and_is_restarted(
    lane_api: LaneApi, emulator: EmulatorControl
) -> None:
    sibling = sibling_of(lane_api.pid)
    # Unreachable (its socket gone, ENOENT): each heavy request is served here instead.
    socket_of(sibling).unlink()
    fallbacks = lane_count(lane_api.url, "fallback")
    response = ask(lane_api, "served here")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "served here"
    assert lane_count(lane_api.url, "fallback") == fallbacks + 1

    # Killed: served here while it is down, and it comes back (a new process).
    os.kill(sibling, signal.SIGKILL)
    for i in range(3):
        response = ask(lane_api, f"meanwhile {i}")
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == f"meanwhile {i}"
    assert wait_for_lane(lane_api.url, lane_api.pid, KEY_A) != sibling
    forwarded = lane_count(lane_api.url, "forwarded")
    assert ask(lane_api, "back").json()["choices"][0]["message"]["content"] == "back"
    assert lane_count(lane_api.url, "forwarded") == forwarded + 1


def test_a_sibling_dying_with_a_request_it_took_answers_503(
    lane_api: LaneApi, emulator: EmulatorControl
) -> None:
    sibling = wait_for_lane(lane_api.url, lane_api.pid, KEY_A)
    failed = lane_count(lane_api.url, "failed")
    outcome: list[httpx.Response] = []
    asking = threading.Thread(
        target=lambda: outcome.append(ask(lane_api, "never", latency_ms=5000))
    )
    calls = len(emulator.requests())
    asking.start()
    # The sibling took the request: its job reached the provider.
    wait_until(lambda: len(emulator.requests()) > calls, 30, "the call")
    os.kill(sibling, signal.SIGKILL)
    asking.join()
    # It may or may not have taken effect (as when any process dies mid-request): a 503 in
    # the error shape, never a second run of it here.
    assert outcome[0].status_code == 503
    assert outcome[0].json()["error"]["type"] == "service_unavailable"
    assert lane_count(lane_api.url, "failed") == failed + 1
    wait_for_lane(lane_api.url, lane_api.pid, KEY_A)


def test_a_sibling_dying_mid_stream_ends_the_stream_unfinished(
    lane_api: LaneApi, emulator: EmulatorControl
) -> None:
    sibling = wait_for_lane(lane_api.url, lane_api.pid, KEY_A)
    body = heavy_chat(directive(reply=LONG_REPLY, token_interval_ms=300), stream=True)
    with (
        httpx.Client(base_url=lane_api.url, headers=AUTH) as client,
        client.stream("POST", "/v1/chat/completions", json=body, timeout=60) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_raw()
        next(chunks)
        os.kill(sibling, signal.SIGKILL)
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in chunks:
                pass
    wait_for_lane(lane_api.url, lane_api.pid, KEY_A)


def test_the_sibling_stops_with_its_api_and_dies_with_a_killed_one(stack: Stack) -> None:
    stack.start_extra_api("api-lane-stopped", LANE_ENV)
    stopped = stack.processes["api-lane-stopped"].proc
    assert stopped is not None
    sibling = sibling_of(stopped.pid)
    directory = socket_of(sibling).parent
    stack.stop_process("api-lane-stopped")
    assert not alive(sibling)
    assert not directory.exists()

    stack.start_extra_api("api-lane-killed", LANE_ENV)
    killed = stack.processes.pop("api-lane-killed").proc
    assert killed is not None
    sibling = sibling_of(killed.pid)
    # The API alone (not its process group): no clean-up can run, the kernel must do it.
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    wait_until(lambda: not alive(sibling), 30, "the sibling's end")
