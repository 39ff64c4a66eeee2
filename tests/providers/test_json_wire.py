"""The urllib3 wire of the OpenAI, Azure and Anthropic chat calls (here through OpenAI's
layer): what it does beyond the adapter contract (``test_adapter_contract.py`` and
``test_adapter_stream_contract.py`` run every adapter through every failure): connections
kept across calls and streams, redirects not followed, the environment's proxy settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

from emulator import EmulatorControl
from emulator.directives import directive
from gateway.errors import ProviderError
from providers.json_wire import _pool_for
from providers.openai_wire import OpenAIWire

AUTH = {"Authorization": "Bearer sk-wire-test"}


@pytest.fixture
def wire(provider_emulator_url: str, emulator_control: EmulatorControl) -> Iterator[OpenAIWire]:
    client = OpenAIWire(
        f"{provider_emulator_url}/v1", timeout=10, provider="wire", secret="sk-wire-test"
    )
    yield client
    client.close()


def body(text: str) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}


def connections_made(wire: OpenAIWire, url: str) -> int:
    return int(wire.wire._pool.connection_from_url(url).num_connections)


def test_calls_and_whole_streams_share_one_connection(
    wire: OpenAIWire, provider_emulator_url: str
) -> None:
    url = f"{provider_emulator_url}/v1/chat/completions"
    assert wire.post(url, body("one"), AUTH)["choices"][0]["message"]["content"] == "echo: one"
    chunks = list(wire.stream(url, body("two words"), AUTH))
    assert len(chunks) > 2 and chunks[-1]["usage"]  # type: ignore[index]
    wire.post(url, body("three"), AUTH)
    list(wire.stream(url, body("four"), AUTH))
    # Read to [DONE] and drained, a stream's connection went back to the pool.
    assert connections_made(wire, url) == 1


def test_a_stream_left_early_gives_up_its_connection_and_the_next_call_works(
    wire: OpenAIWire, provider_emulator_url: str, emulator_control: EmulatorControl
) -> None:
    url = f"{provider_emulator_url}/v1/chat/completions"
    paced = directive(reply="a b c d e f g h", token_interval_ms=20)
    chunks = wire.stream(url, body(paced), AUTH)
    next(chunks)
    chunks.close()
    assert wire.post(url, body("after"), AUTH)["choices"][0]["message"]["content"] == "echo: after"
    # The half-read connection was closed, not handed to the next call.
    assert connections_made(wire, url) == 2
    # The stream asked for its usage, as the SDK's callers did.
    first = emulator_control.requests()[0]["body"]
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}


class Redirecting(BaseHTTPRequestHandler):
    """A server (a proxy or a moved endpoint) answering every POST with a redirect."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(307)
        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_redirect_is_an_error_not_followed() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/v1"
    wire = OpenAIWire(base, timeout=10, provider="wire", secret="sk-wire-test")
    try:
        with pytest.raises(ProviderError) as caught:
            wire.post(f"{base}/chat/completions", body("hi"), AUTH)
    finally:
        wire.close()
        server.shutdown()
    error = caught.value
    assert error.provider == "wire" and error.upstream_status == 307
    assert error.__suppress_context__


def test_the_environment_proxy_is_used_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert type(_pool_for("https://api.openai.com/v1")) is urllib3.PoolManager
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    pool = _pool_for("https://api.openai.com/v1")
    assert isinstance(pool, urllib3.ProxyManager)
    assert pool.proxy is not None and pool.proxy.host == "proxy.internal"
    # Only https is proxied here; a plain-http server goes direct.
    assert type(_pool_for("http://127.0.0.1:8090/v1")) is urllib3.PoolManager
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert type(_pool_for("https://api.openai.com/v1")) is urllib3.PoolManager
