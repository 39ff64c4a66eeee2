"""Streamed replies: pacing (per request and server-wide), scripted stream faults, the
streaming-only endpoints, and what the records say. Each protocol's own stream format is
checked through its adapter in ``tests/providers/test_adapter_stream_contract.py``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from emulator.streaming import planned_chunks

CHUNKS = [b"a", b"b", b"c", b"d"]


def chat(url: str, text: str, *, stream: bool = True) -> httpx.Response:
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]}
    headers = {"authorization": "Bearer x"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=10)


def post_config(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + "/_emulator/config", data=json.dumps(body).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


# --- faults, as planned ----------------------------------------------------------------------


def test_without_a_fault_every_chunk_is_sent_and_the_body_ends() -> None:
    assert planned_chunks(CHUNKS, None, None, b"!") == (CHUNKS, True)


@pytest.mark.parametrize(
    ("fault", "after", "expected"),
    [
        ("cut", 1, ([b"a"], False)),
        ("cut", None, ([b"a", b"b"], False)),  # half, by default
        ("cut", 99, ([b"a", b"b", b"c"], False)),  # never the whole stream
        ("error", 0, ([b"!"], True)),
        ("error", 2, ([b"a", b"b", b"!"], True)),
        ("malformed", 3, ([b"a", b"b", b"c", b"!", b"d"], True)),
    ],
)
def test_a_fault_breaks_the_stream_after_fault_after_chunks(
    fault: Any, after: int | None, expected: tuple[list[bytes], bool]
) -> None:
    assert planned_chunks(CHUNKS, fault, after, b"!") == expected


# --- over HTTP -------------------------------------------------------------------------------


def test_a_cut_stream_closes_the_connection_before_the_body_ends(
    emulator_url: str, control: EmulatorControl
) -> None:
    script = directive(reply="one two three four", stream_fault="cut", fault_after=2)
    with pytest.raises(httpx.RemoteProtocolError):
        chat(emulator_url, script)
    [record] = control.requests()
    assert (record["status"], record["stream"]) == (200, True)
    assert control.stats()["in_flight"] == 0


def test_an_error_fault_ends_the_stream_with_the_protocols_error_event(
    emulator_url: str, control: EmulatorControl
) -> None:
    script = directive(reply="one two three", stream_fault="error", fault_after=2, error="Boom")
    events = [line for line in chat(emulator_url, script).text.splitlines() if line]
    assert json.loads(events[-1].removeprefix("data: "))["error"]["message"] == "Boom"
    assert "[DONE]" not in events[-1]


def test_the_token_interval_is_configurable_and_validated_as_a_whole(
    emulator_url: str, control: EmulatorControl
) -> None:
    assert post_config(emulator_url, {"token_interval_ms": 25}) == (
        200,
        {"latency_ms": 0, "token_interval_ms": 25},
    )
    status, body = post_config(emulator_url, {"latency_ms": 5, "token_interval_ms": -1})
    assert status == 400 and "token_interval_ms" in body["error"]
    assert post_config(emulator_url, {})[1] == {"latency_ms": 0, "token_interval_ms": 25}
    control.reset()
    assert post_config(emulator_url, {})[1] == {"latency_ms": 0, "token_interval_ms": 0}


@pytest.mark.parametrize(
    "script",
    [{"stream_fault": "explode"}, {"token_interval_ms": -5}, {"fault_after": "2"}],
)
def test_bad_stream_directives_are_a_400(
    emulator_url: str, control: EmulatorControl, script: dict[str, Any]
) -> None:
    response = chat(emulator_url, "hi " + directive(**script))
    assert response.status_code == 400


def test_records_say_whether_a_request_streamed(
    emulator_url: str, control: EmulatorControl
) -> None:
    chat(emulator_url, "a", stream=False)
    chat(emulator_url, "b")
    assert [r["stream"] for r in control.requests()] == [False, True]
