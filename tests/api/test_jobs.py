"""``/v1/jobs`` through the real stack: API process, Redis, Celery workers, emulator."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import redis

from emulator import EmulatorControl
from gateway import keys


def completion(model: str = "gpt-4o-mini", text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "type": "completion",
        "request": {"model": model, "messages": [{"role": "user", "content": text}]},
        **extra,
    }


def directive(**script: Any) -> str:
    return f"<<emulator:{json.dumps(script)}>>"


def wait_terminal(client: httpx.Client, job_id: str, seconds: float = 20) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": seconds})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_submit_then_poll_reaches_succeeded(client_a: httpx.Client) -> None:
    response = client_a.post("/v1/jobs", json=completion(text="poll me"))
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["provider"] == "openai"
    deadline = time.monotonic() + 20
    while job["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = client_a.get(f"/v1/jobs/{job['id']}").json()
    assert job["status"] == "succeeded"
    assert job["result"]["message"]["content"] == "echo: poll me"
    assert job["usage"]["total_tokens"] > 0
    assert job["cost_usd"] > 0  # gpt-4o-mini has a price in config/providers.yaml
    assert job["attempts"] == 1
    assert job["started_at"] and job["finished_at"]


def test_anthropic_routed_model_runs_on_anthropic_queue(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    job = client_a.post("/v1/jobs", json=completion("claude-sonnet-4-5", "bonjour")).json()
    assert job["provider"] == "anthropic"
    done = wait_terminal(client_a, job["id"])
    assert done["status"] == "succeeded"
    assert done["result"]["message"]["content"] == "echo: bonjour"
    assert [r["protocol"] for r in emulator.requests()] == ["anthropic"]


def test_pattern_routed_model_reaches_instance(client_a: httpx.Client) -> None:
    job = client_a.post("/v1/jobs", json=completion("claude-3-5-haiku-latest")).json()
    assert job["provider"] == "anthropic"
    assert wait_terminal(client_a, job["id"])["status"] == "succeeded"


def test_wait_returns_200_when_job_finishes(client_a: httpx.Client) -> None:
    job = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=300))).json()
    started = time.monotonic()
    response = client_a.get(f"/v1/jobs/{job['id']}/wait", params={"timeout": 10})
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert time.monotonic() - started < 5


def test_wait_returns_202_when_job_still_running(client_a: httpx.Client) -> None:
    job = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=3000))).json()
    started = time.monotonic()
    response = client_a.get(f"/v1/jobs/{job['id']}/wait", params={"timeout": 0.5})
    elapsed = time.monotonic() - started
    assert response.status_code == 202
    # Still running (the job takes 3 s), so the wait ended at its timeout, not the job's end.
    assert response.json()["status"] in ("queued", "running")
    assert elapsed > 0.4


def test_wait_on_finished_job_returns_immediately(client_a: httpx.Client) -> None:
    job = client_a.post("/v1/jobs", json=completion()).json()
    wait_terminal(client_a, job["id"])
    started = time.monotonic()
    response = client_a.get(f"/v1/jobs/{job['id']}/wait", params={"timeout": 10})
    assert response.status_code == 200
    assert time.monotonic() - started < 5  # generous: not the 10 s timeout


def test_many_concurrent_waiters_all_wake(stack: Any, client_a: httpx.Client) -> None:
    import asyncio

    jobs = [
        client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=200))).json()["id"]
        for _ in range(20)
    ]

    async def wait_all() -> list[int]:
        headers = dict(client_a.headers)
        async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=30) as c:
            responses = await asyncio.gather(
                *(
                    c.get(f"/v1/jobs/{j}/wait", params={"timeout": 20})
                    for j in jobs
                    for _ in range(5)
                )
            )
        return [r.status_code for r in responses]

    assert asyncio.run(wait_all()) == [200] * 100


def test_cancel_right_after_submit_stays_cancelled_without_result(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # Races the worker: the cancel lands while queued or while running; either way the job
    # stays cancelled with no result. "Never started" is asserted in tests/tasks.
    job = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=1500))).json()
    response = client_a.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    # A barrier, not a sleep: a job queued after it and slower than it has been picked up
    # after it and finished after its provider call could have, so a late result would show.
    later = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=2000))).json()
    assert wait_terminal(client_a, later["id"])["status"] == "succeeded"
    final = client_a.get(f"/v1/jobs/{job['id']}").json()
    assert final["status"] == "cancelled"
    assert final["result"] is None


def test_cancel_running_job_discards_result_and_wakes_waiter(client_a: httpx.Client) -> None:
    job = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=1500))).json()
    deadline = time.monotonic() + 10
    while client_a.get(f"/v1/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client_a.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    waited = client_a.get(f"/v1/jobs/{job['id']}/wait", params={"timeout": 5})
    assert waited.status_code == 200
    assert waited.json()["status"] == "cancelled"
    # A barrier, not a sleep: a job started after it and slower than its 1.5 s call ends
    # after that call does, so a result written late would show.
    later = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=2000))).json()
    assert wait_terminal(client_a, later["id"])["status"] == "succeeded"
    final = client_a.get(f"/v1/jobs/{job['id']}").json()
    assert (final["status"], final["result"]) == ("cancelled", None)


def test_cancel_finished_job_is_409(client_a: httpx.Client) -> None:
    job = client_a.post("/v1/jobs", json=completion()).json()
    wait_terminal(client_a, job["id"])
    response = client_a.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "conflict"


def test_same_idempotency_key_returns_same_job(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = completion(idempotency_key="order-42")
    first = client_a.post("/v1/jobs", json=body)
    second = client_a.post("/v1/jobs", json=body)
    assert first.status_code == 202
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    wait_terminal(client_a, first.json()["id"])
    # A barrier, not a sleep: a duplicate would have been queued before this job, so it
    # would have reached the emulator by the time this one is done.
    later = client_a.post("/v1/jobs", json=completion(text="later")).json()
    wait_terminal(client_a, later["id"])
    texts = [r["body"]["messages"][0]["content"] for r in emulator.requests()]
    assert texts == ["hello", "later"]


def test_reused_idempotency_key_with_other_request_is_409(client_a: httpx.Client) -> None:
    first = client_a.post("/v1/jobs", json=completion(text="one", idempotency_key="k-409"))
    other = client_a.post("/v1/jobs", json=completion(text="two", idempotency_key="k-409"))
    assert first.status_code == 202
    assert other.status_code == 409
    error = other.json()["error"]
    assert error["param"] == "idempotency_key" and first.json()["id"] in error["message"]


def test_the_request_fingerprint_is_kept_only_for_an_idempotency_key(
    client_a: httpx.Client, redis_client: redis.Redis
) -> None:
    # It tells an idempotent repeat from a conflict (above); without a key nothing is
    # ever compared with it, and a hash field costs ~130 bytes in Redis.
    keyed = client_a.post("/v1/jobs", json=completion(idempotency_key="k-fp")).json()
    plain = client_a.post("/v1/jobs", json=completion()).json()
    assert redis_client.hstrlen(keys.job(keyed["id"]), "fingerprint") == 64
    assert not redis_client.hexists(keys.job(plain["id"]), "fingerprint")


def test_idempotency_key_is_scoped_to_tenant(
    client_a: httpx.Client, client_b: httpx.Client
) -> None:
    body = completion(idempotency_key="shared-key")
    a = client_a.post("/v1/jobs", json=body).json()
    b = client_b.post("/v1/jobs", json=body).json()
    assert a["id"] != b["id"]


def test_other_tenants_job_is_404_everywhere(
    client_a: httpx.Client, client_b: httpx.Client
) -> None:
    job = client_a.post("/v1/jobs", json=completion()).json()
    for method, path in (
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/wait?timeout=0"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
    ):
        response = client_b.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found"
    assert client_b.get("/v1/jobs").json()["data"] == []


def test_list_is_newest_first_with_cursor_pagination(client_a: httpx.Client) -> None:
    ids = [client_a.post("/v1/jobs", json=completion(text=f"n{i}")).json()["id"] for i in range(5)]
    first = client_a.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["data"]] == ids[::-1][:2]
    assert first["has_more"] is True
    second = client_a.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["id"] for j in second["data"]] == ids[::-1][2:4]
    third = client_a.get("/v1/jobs", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [j["id"] for j in third["data"]] == ids[:1]
    assert third["has_more"] is False


def test_list_filters_by_status(client_a: httpx.Client) -> None:
    done = client_a.post("/v1/jobs", json=completion()).json()
    wait_terminal(client_a, done["id"])
    slow = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=2000))).json()
    client_a.post(f"/v1/jobs/{slow['id']}/cancel")
    cancelled = client_a.get("/v1/jobs", params={"status": "cancelled"}).json()["data"]
    succeeded = client_a.get("/v1/jobs", params={"status": "succeeded"}).json()["data"]
    assert [j["id"] for j in cancelled] == [slow["id"]]
    assert [j["id"] for j in succeeded] == [done["id"]]


# Each job carries about 100 KB: a 50 KB prompt and the emulator's echo of it.
BIG_TEXT = "big " * 12_500
BIG_JOBS = 30


def test_a_page_of_big_jobs_is_summaries_neither_sent_nor_read_whole(
    client_a: httpx.Client, redis_client: redis.Redis
) -> None:
    ids = [
        client_a.post("/v1/jobs", json=completion(text=f"{BIG_TEXT}{i}")).json()["id"]
        for i in range(BIG_JOBS)
    ]
    for job_id in ids:
        assert wait_terminal(client_a, job_id)["status"] == "succeeded"
    sent_before = int(redis_client.info("stats")["total_net_output_bytes"])
    page = client_a.get("/v1/jobs", params={"limit": 100})
    redis_sent = int(redis_client.info("stats")["total_net_output_bytes"]) - sent_before
    jobs = page.json()["data"]
    assert [j["id"] for j in jobs] == ids[::-1]
    assert not any("request" in j or "result" in j for j in jobs)
    assert jobs[0]["status"] == "succeeded" and jobs[0]["usage"]["total_tokens"] > 0
    # The jobs hold about 3 MB of prompts and replies; their summaries are a few hundred
    # bytes each...
    assert len(page.content) < BIG_JOBS * 1_000
    # ... and Redis did not send the bodies to the API to be dropped there (the workers'
    # own traffic meanwhile is a few KB).
    assert redis_sent < BIG_JOBS * len(BIG_TEXT) // 4


def test_expand_adds_the_request_and_the_result_to_the_summary(client_a: httpx.Client) -> None:
    job_id = client_a.post("/v1/jobs", json=completion(text="expand me")).json()["id"]
    record = wait_terminal(client_a, job_id)
    [plain] = client_a.get("/v1/jobs", params={"limit": 1}).json()["data"]
    # A summary is the record's own fields, as GET /v1/jobs/{id} shows them.
    assert plain == {name: record[name] for name in plain}
    assert {"tool_loop", "pipeline", "webhook"}.isdisjoint(plain)
    [with_request] = client_a.get("/v1/jobs", params={"limit": 1, "expand": "request"}).json()[
        "data"
    ]
    assert with_request == plain | {"request": record["request"]}
    both = client_a.get("/v1/jobs", params={"limit": 1, "expand": ["request", "result"]})
    assert both.json()["data"] == [
        plain | {"request": record["request"], "result": record["result"]}
    ]
    unknown = client_a.get("/v1/jobs", params={"expand": "tool_loop"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["type"] == "validation_error"


def test_an_unfinished_job_expands_to_a_null_result(client_a: httpx.Client) -> None:
    job = client_a.post("/v1/jobs", json=completion(text=directive(latency_ms=3000))).json()
    [listed] = client_a.get("/v1/jobs", params={"expand": "result"}).json()["data"]
    assert (listed["id"], listed["result"]) == (job["id"], None)
    assert "request" not in listed
    client_a.post(f"/v1/jobs/{job['id']}/cancel")


def test_provider_4xx_fails_job_with_provider_message(client_a: httpx.Client) -> None:
    text = directive(status=400, error="max_tokens is too large")
    job = client_a.post("/v1/jobs", json=completion(text=text)).json()
    done = wait_terminal(client_a, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["type"] == "provider_rejected"
    assert "max_tokens is too large" in done["error"]["message"]
    assert done["attempts"] == 1


def test_provider_5xx_is_retried_then_fails_after_max_attempts(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = completion(text=directive(status=500))
    body["request"]["provider"] = "openai"  # this instance only: no fallback to Azure's copy
    job = client_a.post("/v1/jobs", json=body).json()
    done = wait_terminal(client_a, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["type"] == "provider_unavailable"
    assert "after 3 attempts" in done["error"]["message"]
    assert done["attempts"] == 3
    assert len(emulator.requests()) == 3


def test_a_failing_instance_falls_back_to_another_serving_the_model(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    # gpt-4o-mini: OpenAI first, then Azure's deployment of it (priority 1).
    emulator.script({"status": 500}, {"reply": "from the other instance"})
    job = client_a.post("/v1/jobs", json=completion()).json()
    done = wait_terminal(client_a, job["id"])
    assert done["status"] == "succeeded"
    assert done["provider"] == "azure"
    assert done["result"]["message"]["content"] == "from the other instance"
    calls = emulator.requests()
    assert [c["protocol"] for c in calls] == ["openai", "azure_openai"]
    assert calls[1]["model"] == "gpt-4o-mini-prod"  # the deployment serving the model


def test_provider_5xx_then_success_succeeds_on_retry(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    emulator.script({"status": 503}, {"reply": "second time lucky"})
    job = client_a.post("/v1/jobs", json=completion()).json()
    done = wait_terminal(client_a, job["id"])
    assert done["status"] == "succeeded"
    assert done["result"]["message"]["content"] == "second time lucky"
    assert done["attempts"] == 2
