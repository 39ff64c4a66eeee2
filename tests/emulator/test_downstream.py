"""The downstream stand-in (semantic-search + ai-agents on one app): deterministic answers,
recorded requests and injected behaviours. In-process here; tests/tools runs it as a real
process through ``llm-gateway downstream``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from emulator.downstream import create_downstream_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_downstream_app()) as test_client:
        yield test_client


def recorded(client: TestClient) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = client.get("/_downstream/requests").json()["requests"]
    return records


def behave(client: TestClient, **rule: object) -> None:
    assert client.post("/_downstream/behaviour", json=rule).status_code == 200


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"ok": True}


def test_search_ranks_by_word_overlap_and_honours_top_k(client: TestClient) -> None:
    body = client.post("/v1/search", json={"query": "provider circuit breaker", "top_k": 2}).json()
    assert body["query"] == "provider circuit breaker"
    assert [(r["chunk_id"], r["score"]) for r in body["results"]] == [
        ("chunk-007", 1.0),
        ("chunk-001", 0.3333),
    ]
    first = body["results"][0]
    assert set(first) == {"chunk_id", "score", "text", "collection", "source"}
    assert first["source"] == "runbooks/providers.md"


def test_search_filters_by_collection_and_is_deterministic(client: TestClient) -> None:
    request = {"query": "the job runs tool calls", "collection": "code", "top_k": 50}
    first = client.post("/v1/search", json=request).json()
    assert first == client.post("/v1/search", json=request).json()
    assert first["results"]
    assert {r["collection"] for r in first["results"]} == {"code"}
    scores = [r["score"] for r in first["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_without_matches_is_empty(client: TestClient) -> None:
    assert client.post("/v1/search", json={"query": "zebra"}).json()["results"] == []


@pytest.mark.parametrize("body", [{"query": "x", "top_k": 0}, {"query": "x", "top_k": 51}, {}])
def test_bad_search_requests_are_422(client: TestClient, body: dict[str, object]) -> None:
    assert client.post("/v1/search", json=body).status_code == 422


def test_chunks_by_id(client: TestClient) -> None:
    chunk = client.get("/v1/chunks/chunk-012").json()
    assert chunk["chunk_id"] == "chunk-012"
    assert chunk["source"] == "api/routes/jobs.py"
    missing = client.get("/v1/chunks/chunk-404")
    assert (missing.status_code, missing.json()) == (404, {"detail": "chunk not found"})


@pytest.mark.parametrize(
    ("agent", "agent_input", "key"),
    [
        ("code-review", {"code": "try:\n    x()\nexcept:\n    pass\n"}, "findings"),
        ("architecture", {"code": "from a.b import c\ndef f(): ...\n"}, "components"),
        ("doc-generate", {"code": "class K: ...", "format": "docstring"}, "documentation"),
    ],
)
def test_agents_answer_deterministically_from_their_input(
    client: TestClient, agent: str, agent_input: dict[str, object], key: str
) -> None:
    first = client.post(f"/v1/agents/{agent}/run", json={"input": agent_input})
    second = client.post(f"/v1/agents/{agent}/run", json={"input": agent_input})
    assert first.status_code == 200
    assert first.json() == second.json()
    assert first.json()["agent"] == agent
    assert first.json()["output"][key]


def test_agent_outputs(client: TestClient) -> None:
    review = client.post(
        "/v1/agents/code-review/run",
        json={"input": {"code": "try:\n    x()\nexcept:\n    pass\n"}},
    ).json()["output"]
    assert review["findings"] == [
        {"line": 3, "severity": "error", "message": "bare except hides errors"}
    ]
    assert review["summary"] == "1 finding(s) in 4 line(s) of text"
    design = client.post(
        "/v1/agents/architecture/run",
        json={"input": {"code": "from a.b import c\nimport os\ndef f(): ...\n", "context": "x"}},
    ).json()["output"]
    assert (design["components"], design["dependencies"]) == (["f"], ["a.b", "os"])


def test_unknown_agent_is_404_and_missing_code_is_422(client: TestClient) -> None:
    unknown = client.post("/v1/agents/poet/run", json={"input": {"code": "x"}})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "agent not found"})
    assert client.post("/v1/agents/code-review/run", json={"input": {}}).status_code == 422
    assert client.post("/v1/agents/code-review/run", json={"code": "x"}).status_code == 422


def test_service_requests_are_recorded_but_not_control_or_health(client: TestClient) -> None:
    client.get("/health")
    client.post("/v1/search", json={"query": "redis"})
    client.get("/v1/chunks/a%2Fb")
    records = recorded(client)
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/v1/search", 200),
        ("GET", "/v1/chunks/a%2Fb", 404),
    ]
    assert records[0]["body"] == {"query": "redis"}
    assert records[1]["body"] is None
    assert all(r["t_start"] <= r["t_end"] for r in records)


def test_behaviour_fails_the_next_n_matching_requests_only(client: TestClient) -> None:
    behave(client, path_prefix="/v1/search", status=503, times=2, retry_after=1.5)
    assert client.get("/v1/chunks/chunk-001").status_code == 200
    failed = [client.post("/v1/search", json={"query": "x"}) for _ in range(3)]
    assert [r.status_code for r in failed] == [503, 503, 200]
    assert failed[0].json() == {"detail": "injected failure 503"}
    assert failed[0].headers["retry-after"] == "1.5"


def test_behaviour_without_times_lasts_until_reset(client: TestClient) -> None:
    behave(client, path_prefix="/v1/agents/", status=500)
    for _ in range(3):
        assert (
            client.post("/v1/agents/code-review/run", json={"input": {"code": "x"}}).status_code
            == 500
        )
    assert client.post("/_downstream/reset").json() == {"ok": True}
    assert recorded(client) == []
    assert (
        client.post("/v1/agents/code-review/run", json={"input": {"code": "x"}}).status_code == 200
    )


def test_behaviour_can_slow_answers_and_answer_with_text(client: TestClient) -> None:
    behave(client, path_prefix="/v1/chunks/", latency_ms=200, times=1)
    behave(client, path_prefix="/v1/search", status=200, body="not json", times=1)
    started = time.monotonic()
    assert client.get("/v1/chunks/chunk-001").json()["chunk_id"] == "chunk-001"
    assert time.monotonic() - started >= 0.2
    text = client.post("/v1/search", json={"query": "x"})
    assert (text.status_code, text.text) == (200, "not json")
    [slow, _] = recorded(client)
    assert slow["t_end"] - slow["t_start"] >= 0.2


def test_bad_behaviours_are_422(client: TestClient) -> None:
    assert client.post("/_downstream/behaviour", json={"status": 99}).status_code == 422
    assert client.post("/_downstream/behaviour", json={"times": 0}).status_code == 422
