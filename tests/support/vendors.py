"""How to build each vendor's adapter against the emulator, as a worker builds it.

The adapter contract (``tests/providers/test_adapter_contract.py``) runs the same checks
over every entry of ``VENDORS``; each vendor's own wire format stays in its own test file.
A vendor's setup is a function of the emulator's URL and a scratch folder, because some
need files a worker would read (OCI's API key, Vertex's service-account key).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator import directive
from emulator.local_env import GOOGLE_TOKEN_PATH, emulator_env, service_account
from gateway.credentials import CredentialResolver
from providers.base import Provider
from providers.config import InstanceConfig
from providers.registry import build_provider, resolve_credentials
from providers.streaming import StreamAssembler, StreamEnd, StreamEvent
from providers.types import ChatRequest, ChatResponse, Message, TextPart, ToolCall, ToolDefinition

Build = Callable[..., Provider]
"""``build(base_url=None, timeout_seconds=10.0, **config)``: the adapter; the chat endpoint
at ``base_url`` (the emulator by default), any token endpoint always at the emulator;
``config`` overrides fields of the instance's configuration."""


@dataclass(frozen=True)
class VendorKit:
    """One vendor's adapter as the contract tests need it."""

    instance: str  # the instance name errors carry as ``provider``
    model: str
    build: Build
    # The credential an upstream error might echo; None for a vendor that holds none.
    secret: str | None
    # Environment isolation to apply before building (Bedrock's default chain, say).
    isolate: Callable[[pytest.MonkeyPatch, Path], None] | None = None
    # Whether errors hide the exception they were mapped from (``__suppress_context__``).
    # The watsonx adapter leaves it as context: it does not set it (noted, not changed here).
    hides_upstream_exception: bool = True
    # Whether responses carry the vendor's id for the exchange (Ollama's have none).
    gives_response_id: bool = True
    # Whether the vendor streams a tool call's arguments in pieces (Gemini and Ollama send
    # each call whole, in one chunk).
    streams_argument_fragments: bool = True


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def ask(provider: Provider, model: str, *messages: Message, **fields: Any) -> ChatResponse:
    return provider.complete(ChatRequest(model=model, messages=messages, **fields))


def assembled(events: list[StreamEvent], model: str) -> ChatResponse:
    """The ``ChatResponse`` a stream's events fold into; checks that exactly one
    ``StreamEnd`` came, last."""
    ends = [i for i, event in enumerate(events) if isinstance(event, StreamEnd)]
    assert ends == [len(events) - 1], f"one StreamEnd, last: {events}"
    assembler = StreamAssembler(model)
    for event in events:
        assembler.add(event)
    return assembler.response()


def ask_streamed(provider: Provider, model: str, *messages: Message, **fields: Any) -> ChatResponse:
    """Like :func:`ask`, through ``stream``."""
    request = ChatRequest(model=model, messages=messages, **fields)
    return assembled(list(provider.stream(request)), model)


def _builder(emulator_url: str, environ: dict[str, str], path: str = "", **config: Any) -> Build:
    """``build`` for an instance of ``config``, its credentials resolved from ``environ``;
    ``path`` is appended to the base URL."""

    def build(
        base_url: str | None = None, timeout_seconds: float = 10.0, **overrides: Any
    ) -> Provider:
        instance = InstanceConfig(
            base_url=(base_url or emulator_url) + path,
            timeout_seconds=timeout_seconds,
            **{**config, **overrides},
        )
        return build_provider(instance, resolve_credentials(instance, CredentialResolver(environ)))

    return build


def openai(emulator_url: str, workdir: Path) -> VendorKit:
    key = "sk-test-adapters-openai-SECRET-7f6e5d4c"
    build = _builder(
        emulator_url,
        {"TEST_OPENAI_KEY": key},
        name="openai-test",
        type="openai",
        api_key_env="TEST_OPENAI_KEY",
        # The OpenAI SDK's base URL includes /v1; the Anthropic SDK adds it itself.
        path="/v1",
    )
    return VendorKit("openai-test", "gpt-4o-mini", build, key)


def anthropic(emulator_url: str, workdir: Path) -> VendorKit:
    key = "sk-ant-test-adapters-SECRET-1a2b3c4d"
    build = _builder(
        emulator_url,
        {"TEST_ANTHROPIC_KEY": key},
        name="anthropic-test",
        type="anthropic",
        api_key_env="TEST_ANTHROPIC_KEY",
    )
    return VendorKit("anthropic-test", "claude-haiku-4-5", build, key)


AZURE_API_VERSION = "2024-10-21"
AZURE_DEPLOYMENT = "gpt-4o-prod"


def azure_openai(emulator_url: str, workdir: Path) -> VendorKit:
    key = "azure-test-adapter-SECRET-5a4b3c2d1e0f"
    build = _builder(
        emulator_url,
        {"TEST_AZURE_KEY": key},
        name="azure-test",
        type="azure_openai",
        api_version=AZURE_API_VERSION,
        deployments={AZURE_DEPLOYMENT: "gpt-4o"},
        api_key_env="TEST_AZURE_KEY",
    )
    return VendorKit("azure-test", AZURE_DEPLOYMENT, build, key)


BEDROCK_ACCESS_KEY_ID = "AKIATESTADAPTER00001"
BEDROCK_ENV_SOURCE = {
    "type": "env",
    "vars": {"access_key_id": "TEST_BEDROCK_KEY_ID", "secret_access_key": "TEST_BEDROCK_SECRET"},
}


def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's default chain sees nothing of this machine: no AWS variables, no files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def bedrock(emulator_url: str, workdir: Path) -> VendorKit:
    secret = "bedrock-adapter-SECRET-wJalrXUtnFEMI-K7MDENG"
    environ = {"TEST_BEDROCK_KEY_ID": BEDROCK_ACCESS_KEY_ID, "TEST_BEDROCK_SECRET": secret}
    build = _builder(
        emulator_url,
        environ,
        name="bedrock-test",
        type="bedrock",
        region="us-east-1",
        credentials=[BEDROCK_ENV_SOURCE],
    )
    model = "meta.llama3-3-70b-instruct-v1:0"
    return VendorKit(
        "bedrock-test",
        model,
        build,
        secret,
        isolate=no_ambient_aws,
    )


def oci(emulator_url: str, workdir: Path) -> VendorKit:
    env = emulator_env("http://unused", workdir)
    key_file = Path(env["OCI_PRIVATE_KEY_FILE"])
    options = {
        "compartment_id": "ocid1.compartment.oc1..aaaaaaaacompartment",
        "user": "ocid1.user.oc1..aaaaaaaauser",
        "tenancy": "ocid1.tenancy.oc1..aaaaaaaatenancy",
        "fingerprint": env["OCI_KEY_FINGERPRINT"],
    }
    build = _builder(
        emulator_url,
        {},
        name="oci-test",
        type="oci",
        region="us-chicago-1",
        options=options,
        credentials=[{"type": "file", "files": {"private_key": str(key_file)}}],
    )
    # A line of the private key: what a leaked key would show.
    key_line = key_file.read_text().splitlines()[3]
    return VendorKit("oci-test", "meta.llama-3.3-70b-instruct", build, key_line)


def ollama(emulator_url: str, workdir: Path) -> VendorKit:
    build = _builder(emulator_url, {}, name="ollama-test", type="ollama")
    return VendorKit(
        "ollama-test",
        "llama3.2",
        build,
        None,
        gives_response_id=False,
        streams_argument_fragments=False,
    )


def generate_private_key() -> str:
    """A fresh RSA key in PKCS#8 PEM, as a service-account key file holds it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def vertex(emulator_url: str, workdir: Path) -> VendorKit:
    return _vertex(emulator_url, workdir, "gemini-2.5-flash")


def vertex_claude(emulator_url: str, workdir: Path) -> VendorKit:
    """The vertex adapter's other path: Claude through Vertex's Anthropic publisher."""
    return _vertex(emulator_url, workdir, "claude-sonnet-4-5@20250929")


def _vertex(emulator_url: str, workdir: Path, model: str) -> VendorKit:
    private_key = generate_private_key()
    key_file = workdir / "service-account.json"
    key_file.write_text(json.dumps(service_account(private_key, emulator_url + GOOGLE_TOKEN_PATH)))
    build = _builder(
        emulator_url,
        {},
        name="vertex-test",
        type="vertex",
        project="adapter-test-project",
        region="us-central1",
        credentials=[{"type": "file", "files": {"service_account_json": str(key_file)}}],
    )
    return VendorKit(
        "vertex-test",
        model,
        build,
        private_key.splitlines()[1],
        # Gemini sends each call whole; Claude's events stream the arguments in pieces.
        streams_argument_fragments=model.startswith("claude-"),
    )


def watsonx(emulator_url: str, workdir: Path) -> VendorKit:
    key = "watsonx-adapter-SECRET-c2VjcmV0a2V5MDAx"
    build = _builder(
        emulator_url,
        {"TEST_WATSONX_KEY": key},
        name="watsonx-test",
        type="watsonx",
        project="4947c695-a374-428c-acca-332c1a1dc9e9",
        api_version="2024-05-31",
        # IAM stays at the emulator when the chat endpoint is elsewhere.
        options={"iam_url": emulator_url},
        api_key_env="TEST_WATSONX_KEY",
    )
    return VendorKit(
        "watsonx-test",
        "ibm/granite-3-8b-instruct",
        build,
        key,
        hides_upstream_exception=False,
    )


VENDORS: dict[str, Callable[[str, Path], VendorKit]] = {
    "openai": openai,
    "anthropic": anthropic,
    "azure_openai": azure_openai,
    "bedrock": bedrock,
    "oci": oci,
    "ollama": ollama,
    "vertex": vertex,
    "vertex_claude": vertex_claude,
    "watsonx": watsonx,
}
"""Every adapter type, keyed by the provider type the registry knows it by (and each other
path of one: ``vertex_claude``)."""


WEATHER = ToolDefinition(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def weather_round_trip(
    provider: Provider, model: str, *, send: Callable[..., ChatResponse] = ask
) -> ToolCall:
    """Ask for Paris's weather (the emulated model calls ``get_weather``), answer the call
    with "18C and sunny" and check the model's final answer. Returns the call; the emulator
    recorded the two requests, so a vendor's test can then check its own wire format.
    ``send`` makes each request (:func:`ask`, or :func:`ask_streamed`)."""
    script = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    question = user(f"Weather in Paris? {script}")

    first = send(provider, model, question, tools=(WEATHER,), tool_choice="auto")

    assert first.finish_reason == "tool_calls"
    [call] = first.message.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})

    result = Message("tool", (TextPart("18C and sunny"),), tool_call_id=call.id)
    second = send(provider, model, question, first.message, result, tools=(WEATHER,))

    assert (second.message.text, second.finish_reason) == ("tool results: 18C and sunny", "stop")
    assert second.message.tool_calls == ()
    return call
