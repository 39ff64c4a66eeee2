"""``enhancement`` jobs through the real stack: API, Redis, workers, the emulator's enhancer
persona and the semantic-search stand-in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator import EmulatorControl, directive
from emulator.downstream_content import CHUNKS
from tests.support.processes import Stack

DOCUMENT = """# Rate limits

Every provider has limits: requests and tokens per minute.

## Concurrency

Workers hold a slot for each call in flight.

## Retries

A 429 is retried after the provider's retry-after.
"""


def enhancement(text: str = DOCUMENT, **options: Any) -> dict[str, Any]:
    return {
        "type": "enhancement",
        "request": {"model": "gpt-4o-mini", "document": {"text": text}, "options": options},
    }


def wait_terminal(client: httpx.Client, job_id: str, seconds: float = 30) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": seconds})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_enhancement_gathers_context_enhances_and_validates(
    client_a: httpx.Client, emulator: EmulatorControl, downstream: Stack
) -> None:
    response = client_a.post("/v1/jobs", json=enhancement())
    assert response.status_code == 202, response.text
    job = wait_terminal(client_a, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    validation = result["validation"]
    assert validation["passed"], validation
    assert [c["name"] for c in validation["checks"]] == [
        "markdown",
        "sections",
        "citations",
        "content",
    ]
    assert validation["review"]["approved"] is True
    # The citations are real chunks the search tool returned, with their sources.
    assert result["citations"], result["document"]
    for citation in result["citations"]:
        assert citation["chunk_id"] in CHUNKS
        assert citation["source"] == CHUNKS[citation["chunk_id"]].source
        assert f"[^{citation['chunk_id']}]" in result["document"]
    assert "## Concurrency" in result["document"] and "## Retries" in result["document"]
    # Per-step usage adds up to the job's.
    steps = result["steps"]
    assert set(steps) == {"gather", "enhance", "review"}
    assert steps["gather"]["tool_calls"] >= 1
    total = sum(s["usage"]["total_tokens"] for s in steps.values())
    assert job["usage"]["total_tokens"] == total > 0
    assert result["prompt"] == "enhancement/v1"
    # Resolved at submission: the worker runs the version that was current then.
    assert job["request"]["options"]["prompt_version"] == "v1"
    # One conversation: each later call carries everything before it.
    calls = [r for r in emulator.requests() if r["protocol"] == "openai"]
    assert len(calls) == 4  # search call, notes, enhanced document, review
    searches = [r for r in downstream_requests(downstream) if r["path"] == "/v1/search"]
    assert searches


def downstream_requests(stack: Stack) -> list[dict[str, Any]]:
    from emulator.downstream import DownstreamControl

    return DownstreamControl(stack.downstream_url).requests()


def test_validation_failure_is_reported_in_a_succeeded_job(
    client_a: httpx.Client, emulator: EmulatorControl, downstream: Stack
) -> None:
    # The scripted model gathers nothing, then drops "## Retries" and cites chunk-001, a
    # real chunk that no tool returned to it.
    enhanced = DOCUMENT.split("## Retries")[0] + "See the overview.[^chunk-001]\n\n"
    enhanced += "[^chunk-001]: docs/overview.md\n"
    emulator.script({"reply": "Nothing relevant found."}, {"reply": enhanced})
    response = client_a.post("/v1/jobs", json=enhancement(review=False))
    job = wait_terminal(client_a, response.json()["id"])
    assert job["status"] == "succeeded"
    validation = job["result"]["validation"]
    assert validation["passed"] is False
    checks = {c["name"]: c for c in validation["checks"]}
    assert checks["sections"]["passed"] is False
    assert checks["sections"]["items"] == ["Retries"]
    assert checks["citations"]["passed"] is False
    assert checks["citations"]["items"] == ["chunk-001"]
    assert validation["review"] is None
    assert "review" not in job["result"]["steps"]


@pytest.mark.parametrize(
    ("request_patch", "status", "param"),
    [
        ({"document": {"text": "x", "url": "http://localhost/x"}}, 400, "request.document"),
        ({"document": {}}, 400, "request.document"),
        ({"options": {"prompt_version": "v999"}}, 400, "request.options.prompt_version"),
        ({"options": {"tools": ["no_such_tool"]}}, 400, "request.options.tools"),
        ({"options": {"max_iterations": 99}}, 400, "request.options.max_iterations"),
        ({"options": {"colour": "red"}}, 400, "request.options.colour"),
        ({"model": "no-such-model"}, 400, "model"),
        ({"document": {"url": "http://127.0.0.1:9/doc.md"}}, 400, "request.document.url"),
        ({"document": {"url": "ftp://localhost/doc.md"}}, 400, "request.document.url"),
    ],
)
def test_bad_enhancement_requests_are_refused_before_queueing(
    client_a: httpx.Client, request_patch: dict[str, Any], status: int, param: str
) -> None:
    body = enhancement()
    body["request"] |= request_patch
    response = client_a.post("/v1/jobs", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert client_a.get("/v1/jobs").json()["data"] == []


def test_session_id_does_not_apply_to_enhancement(client_a: httpx.Client) -> None:
    response = client_a.post("/v1/jobs", json=enhancement() | {"session_id": "sess_x"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "session_id"


def test_provider_refusal_fails_the_job_with_the_steps_spent(
    client_a: httpx.Client, emulator: EmulatorControl, downstream: Stack
) -> None:
    text = DOCUMENT + directive(status=400, error="poisoned document")
    job = wait_terminal(client_a, client_a.post("/v1/jobs", json=enhancement(text)).json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["type"] == "provider_rejected"


def test_each_step_gets_the_whole_retry_budget(
    client_a: httpx.Client, emulator: EmulatorControl, downstream: Stack
) -> None:
    # MAX_ATTEMPTS is 3: three 503s in one step would fail the job, one in each step not.
    unavailable = {"status": 503, "error": "overloaded"}
    emulator.script(
        unavailable,
        {"reply": "Nothing to cite."},
        unavailable,
        {"reply": DOCUMENT},
        unavailable,
        {"reply": '{"approved": true, "issues": []}'},
    )
    body = enhancement()
    body["request"]["model"] = "slow-model"  # one instance: no fallback absorbs a failure
    job = wait_terminal(client_a, client_a.post("/v1/jobs", json=body).json()["id"])
    assert job["status"] == "succeeded", job["error"]
    # Every call is an attempt: three failed ones, and each step's answer.
    assert job["attempts"] == len(emulator.requests()) == 6
    assert job["result"]["validation"]["passed"], job["result"]["validation"]
