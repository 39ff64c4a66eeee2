"""The OpenAPI document states the API exactly: a schema-driven fuzz of every operation of
the live API (Schemathesis) finds no response the document does not describe.

Each operation gets a bounded number of generated requests, authenticated as tenant A, and
each response is checked: not a server error, its status documented, its content type
documented, its body valid against the documented schema. Blocking operations stay quick:
``wait``'s ``timeout`` has its maximum in the document, the generated ids name no job (an
unknown job answers at once), and the synchronous routes' generated requests name unknown
models (a 400) or, when they name a model, the emulator answers at once. Nothing is
excluded; ``/metrics`` (Prometheus text for scrapers) is outside the document by design.
"""

from __future__ import annotations

from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.schemas import BatchResultLine
from emulator import EmulatorControl, directive
from tests.conftest import KEY_A
from tests.support.processes import Stack

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AUTH = {"Authorization": f"Bearer {KEY_A}"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    )


# Collected from the app's document; the live one must list the same operations.
OPERATIONS = _operations(create_app().openapi())


@pytest.fixture(scope="module")
def live_document(stack: Stack) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{stack.api_url}/openapi.json").json()
    return document


@pytest.fixture
def live_schema(live_document: dict[str, Any]) -> BaseSchema:
    return schemathesis.openapi.from_dict(live_document)


def test_every_live_operation_is_fuzzed(live_document: dict[str, Any]) -> None:
    assert _operations(live_document) == OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_operation_answers_as_documented(
    method: str, path: str, stack: Stack, emulator: EmulatorControl, live_schema: BaseSchema
) -> None:
    operation = live_schema[path][method]

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def answers_as_documented(case: Case) -> None:
        case.call_and_validate(base_url=stack.api_url, headers=AUTH, checks=CHECKS)

    answers_as_documented()


class _Documented:
    """An API client whose every answer is checked against the live document; ``path`` is
    the document's template of the URL (``/v1/jobs/{job_id}``)."""

    def __init__(self, client: httpx.Client, schema: BaseSchema) -> None:
        self.client, self.schema = client, schema

    def call(self, method: str, path: str, url: str | None = None, **kwargs: Any) -> Any:
        response = self.client.request(method, url or path, **kwargs)
        self.schema[path][method].validate_response(response)
        return response.json() if response.content else None


def test_real_records_match_their_documented_models(
    downstream: Stack, client_a: httpx.Client, live_schema: BaseSchema
) -> None:
    """The fuzz mostly reaches errors (generated ids name nothing); these flows make every
    record the routes pre-serialize (jobs, sessions, batches, sync answers) meet its model."""
    api = _Documented(client_a, live_schema)
    completion = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    submitted = {"type": "completion", "request": completion, "idempotency_key": "contract-1"}
    job = api.call("POST", "/v1/jobs", json=submitted)
    one_job = "/v1/jobs/{job_id}"
    api.call("GET", one_job + "/wait", f"/v1/jobs/{job['id']}/wait", params={"timeout": 30})
    api.call("GET", one_job, f"/v1/jobs/{job['id']}")
    api.call("POST", "/v1/jobs", json=submitted)  # the idempotent replay: a 200
    api.call("POST", one_job + "/cancel", f"/v1/jobs/{job['id']}/cancel")  # ended: a 409
    api.call("GET", "/v1/jobs", params={"limit": 5})
    api.call("GET", "/v1/jobs", params={"limit": 5, "expand": ["request", "result"]})

    api.call("POST", "/v1/chat/completions", json=completion)
    streamed = client_a.post("/v1/chat/completions", json={**completion, "stream": True})
    documented = live_schema["/v1/chat/completions"]["POST"].definition.raw["responses"]["200"]
    assert streamed.headers["content-type"].split(";")[0] in documented["content"]

    message = {"model": "gpt-4o-mini", "max_tokens": 16, "messages": completion["messages"]}
    api.call("POST", "/v1/messages", json=message)
    weather = {"name": "get_weather", "input_schema": {"type": "object"}}
    calls = directive(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    tool_use = {**message, "tools": [weather], "messages": [{"role": "user", "content": calls}]}
    assert api.call("POST", "/v1/messages", json=tool_use)["stop_reason"] == "tool_use"
    streamed = client_a.post("/v1/messages", json={**message, "stream": True})
    documented = live_schema["/v1/messages"]["POST"].definition.raw["responses"]["200"]
    assert streamed.headers["content-type"].split(";")[0] in documented["content"]
    count = {"model": "claude-sonnet-4-5", "messages": completion["messages"]}
    api.call("POST", "/v1/messages/count_tokens", json=count)
    api.call("POST", "/v1/messages/count_tokens", json={**count, "model": "gpt-4o-mini"})
    api.call("POST", "/v1/messages", json={**message, "model": "nope"})  # a 404, documented

    embed = {"model": "text-embedding-3-small", "input": ["a", "b"]}
    api.call("POST", "/v1/embeddings", json=embed)
    api.call("POST", "/v1/embeddings", json={**embed, "encoding_format": "base64"})
    api.call("GET", "/v1/models/{model_id}", "/v1/models/ibm/slate-125m-english-rtrvr")

    tool_call = {"name": "search_corpus", "arguments": {"query": "llama", "top_k": 2}}
    api.call("POST", "/v1/tools/execute", json=tool_call)

    messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    session = api.call("POST", "/v1/sessions", json={"system": "terse", "messages": messages})
    one_session = "/v1/sessions/{session_id}"
    at = f"/v1/sessions/{session['id']}"
    api.call("PATCH", one_session, at, json={"context": {"user": "ada"}})
    api.call("GET", one_session, at)
    api.call("DELETE", one_session, at)

    documents = [{"custom_id": f"doc-{i}", "text": f"# Doc {i}\n\nText {i}."} for i in range(2)]
    batch = api.call("POST", "/v1/batches", json={"model": "gpt-4o-mini", "documents": documents})
    one_batch = "/v1/batches/{batch_id}"
    api.call("GET", one_batch, f"/v1/batches/{batch['id']}")
    api.call("GET", "/v1/batches")
    lines = client_a.get(f"/v1/batches/{batch['id']}/results").text.splitlines()
    assert [BatchResultLine.model_validate_json(line).custom_id for line in lines] == [
        "doc-0",
        "doc-1",
    ]
    api.call("POST", one_batch + "/cancel", f"/v1/batches/{batch['id']}/cancel")

    for path in ("/v1/models", "/v1/providers", "/v1/tools", "/v1/webhooks/secret"):
        api.call("GET", path)
    api.call("GET", "/health/ready")
