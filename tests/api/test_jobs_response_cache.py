"""The response cache at ``POST /v1/jobs``, with the real stack: a completion job whose
answer is cached is stored already succeeded, never queued, never reaching the emulator,
costing nothing; it is read, waited for and announced by webhook like any finished job."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl
from tests.conftest import KEY_A, KEY_B, WEBHOOK_SECRET_A
from tests.support.processes import Stack, wait_until
from tests.support.webhook_receiver import WebhookReceiver

USE = {"x-llm-gateway-cache": "use"}


def _request(**params: Any) -> dict[str, Any]:
    # A prompt of its own per test: entries outlive a test (the cache is not cleaned).
    content = f"job cache {uuid.uuid4().hex}"
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **params}


def _job(request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "completion", "request": request, **fields}


def _calls(emulator: EmulatorControl) -> int:
    return len(emulator.requests())


def _finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/wait", params={"timeout": 60})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] == "succeeded", job
    return job


def _computed(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """A miss: submitted, run, finished."""
    response = client.post("/v1/jobs", json=body, headers=USE)
    assert response.status_code == 202, response.text
    assert response.headers["x-llm-gateway-cache"] == "miss"
    return _finished(client, response.json()["id"])


def _metric(client: httpx.Client, prefix: str, *label_parts: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in client.get("/metrics").text.splitlines()
        if line.startswith(prefix) and all(part in line for part in label_parts)
    )


def test_a_repeated_job_is_a_hit_stored_succeeded_never_queued_and_free(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _job(_request())
    computed = _computed(client_a, body)
    assert computed["cache"] == {"hit": False, "ttl_seconds": 3600, "age_seconds": None}
    calls = _calls(emulator)
    jobs_before = _metric(client_a, "llm_gateway_jobs_total{", 'tenant="tenant_a"')
    hits_before = _metric(client_a, "llm_gateway_cache_requests_total{", 'result="hit"')

    hit = client_a.post("/v1/jobs", json=body, headers=USE)

    assert hit.status_code == 202, hit.text
    assert hit.headers["x-llm-gateway-cache"] == "hit"
    assert int(hit.headers["x-llm-gateway-cache-age"]) >= 0
    job = hit.json()
    assert hit.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["id"] != computed["id"]
    assert job["status"] == "succeeded"
    assert job["cost_usd"] == 0
    assert job["attempts"] == 0 and job["provider"] is None
    assert job["cache"]["hit"] is True and job["cache"]["ttl_seconds"] is None
    assert job["cache"]["age_seconds"] >= 0
    assert job["result"] == computed["result"]
    assert job["usage"] == computed["usage"]
    assert _calls(emulator) == calls
    assert client_a.get(f"/v1/jobs/{job['id']}").json() == job
    assert _finished(client_a, job["id"]) == job
    listed = client_a.get("/v1/jobs", params={"limit": 5}).json()["data"]
    assert job["id"] in [entry["id"] for entry in listed]
    # Counted as a hit, not as a job the providers ran.
    assert _metric(client_a, "llm_gateway_jobs_total{", 'tenant="tenant_a"') == jobs_before
    hits = _metric(client_a, "llm_gateway_cache_requests_total{", 'result="hit"')
    assert hits == hits_before + 1


def test_a_hit_streams_its_done_event_with_the_result(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    body = _job(_request(stream=True))
    computed = _computed(client_a, body)
    hit = client_a.post("/v1/jobs", json=body, headers=USE)
    assert hit.headers["x-llm-gateway-cache"] == "hit", hit.text
    with client_a.stream("GET", f"/v1/jobs/{hit.json()['id']}/stream") as stream:
        lines = [line for line in stream.iter_lines() if line.startswith(("event:", "data:"))]
    assert lines[0] == "event: done"
    done = json.loads(lines[1].removeprefix("data:"))
    assert done["status"] == "succeeded" and done["result"] == computed["result"]
    assert done["cost_usd"] == 0


def test_a_job_and_a_chat_request_that_validate_the_same_share_an_entry(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    request = _request(temperature=0.5)
    chat = client_a.post("/v1/chat/completions", json=request, headers=USE)
    assert chat.headers["x-llm-gateway-cache"] == "miss", chat.text
    calls = _calls(emulator)
    # Key order, explicit nulls, an integer for a float and the default n do not matter.
    spelled = {"n": 1, "top_p": None, **dict(reversed(list(request.items()))), "temperature": 0.5}
    job = client_a.post("/v1/jobs", json=_job(spelled), headers=USE)
    assert job.headers["x-llm-gateway-cache"] == "hit", job.text
    assert job.json()["result"]["message"] == chat.json()["choices"][0]["message"]
    # And the other way round: a job's answer serves the chat endpoint.
    other = _request(temperature=1)
    _computed(client_a, _job(other))
    again = client_a.post("/v1/chat/completions", json={**other, "temperature": 1.0}, headers=USE)
    assert again.headers["x-llm-gateway-cache"] == "hit"
    assert _calls(emulator) == calls + 1


def test_a_parameter_difference_misses(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    request = _request(max_tokens=50)
    _computed(client_a, _job(request))
    other = client_a.post("/v1/jobs", json=_job({**request, "max_tokens": 51}), headers=USE)
    assert other.headers["x-llm-gateway-cache"] == "miss"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver(WEBHOOK_SECRET_A).start()
    yield running
    running.stop()


def test_a_hit_fires_its_webhook_as_any_finished_job(
    client_a: httpx.Client, emulator: EmulatorControl, receiver: WebhookReceiver
) -> None:
    request = _request()
    computed = _computed(client_a, _job(request))
    body = _job(request, webhook={"url": receiver.url}, metadata={"run": "hit"})
    hit = client_a.post("/v1/jobs", json=body, headers=USE)
    assert hit.headers["x-llm-gateway-cache"] == "hit", hit.text
    job_id = hit.json()["id"]
    receiver.wait_for(lambda: len(receiver.events("job.succeeded")) == 1, 30, "the hit's event")
    event = receiver.events("job.succeeded")[0]
    assert event["data"]["id"] == job_id
    assert event["data"]["result"] == computed["result"]

    def delivered() -> bool:
        webhook = client_a.get(f"/v1/jobs/{job_id}").json()["webhook"]
        return bool(webhook["delivery"] and webhook["delivery"]["status"] == "delivered")

    wait_until(delivered, 20, "the delivery recorded on the hit's record")


def test_a_hits_webhook_url_is_checked_as_any_jobs(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    request = _request()
    _computed(client_a, _job(request))
    body = _job(request, webhook={"url": "http://127.0.0.1:9/hooks"})
    refused = client_a.post("/v1/jobs", json=body, headers=USE)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "webhook.url"


def test_an_idempotency_key_repeats_the_same_job_hit_or_not(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    request = _request()
    key = f"idem-{uuid.uuid4().hex}"
    first = client_a.post("/v1/jobs", json=_job(request, idempotency_key=key), headers=USE)
    assert first.status_code == 202 and first.headers["x-llm-gateway-cache"] == "miss"
    _finished(client_a, first.json()["id"])
    # The answer is cached now, but the key names the first job: that one comes back.
    repeat = client_a.post("/v1/jobs", json=_job(request, idempotency_key=key), headers=USE)
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["id"] == first.json()["id"]
    assert "x-llm-gateway-cache" not in repeat.headers
    # A hit under a new key is stored with it; its repeat returns the hit's job.
    fresh = f"idem-{uuid.uuid4().hex}"
    hit = client_a.post("/v1/jobs", json=_job(request, idempotency_key=fresh), headers=USE)
    assert hit.status_code == 202 and hit.headers["x-llm-gateway-cache"] == "hit"
    again = client_a.post("/v1/jobs", json=_job(request, idempotency_key=fresh), headers=USE)
    assert again.status_code == 200
    assert again.json()["id"] == hit.json()["id"]
    assert again.json()["cache"]["hit"] is True
    conflict = client_a.post("/v1/jobs", json=_job(_request(), idempotency_key=fresh), headers=USE)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["error"]["param"] == "idempotency_key"


def test_refresh_runs_and_stores_without_reading_and_off_does_neither(
    client_a: httpx.Client, emulator: EmulatorControl
) -> None:
    request = _request()
    off = client_a.post("/v1/jobs", json=_job(request), headers={"x-llm-gateway-cache": "off"})
    assert off.status_code == 202 and "x-llm-gateway-cache" not in off.headers
    assert _finished(client_a, off.json()["id"])["cache"] is None
    calls = _calls(emulator)
    refresh = {"x-llm-gateway-cache": "refresh", "x-llm-gateway-cache-ttl": "120"}
    refreshed = client_a.post("/v1/jobs", json=_job(request), headers=refresh)
    assert refreshed.headers["x-llm-gateway-cache"] == "stored"
    job = _finished(client_a, refreshed.json()["id"])
    assert job["cache"] == {"hit": False, "ttl_seconds": 120, "age_seconds": None}
    assert _calls(emulator) == calls + 1
    hit = client_a.post("/v1/jobs", json=_job(request), headers=USE)
    assert hit.headers["x-llm-gateway-cache"] == "hit"
    # Refresh again: not looked up, run again even though the entry is there.
    again = client_a.post("/v1/jobs", json=_job(request), headers=refresh)
    assert again.headers["x-llm-gateway-cache"] == "stored"
    assert _finished(client_a, again.json()["id"])["cost_usd"] is not None
    assert _calls(emulator) == calls + 2


def test_another_tenant_misses(
    client_a: httpx.Client, client_b: httpx.Client, emulator: EmulatorControl
) -> None:
    request = _request()
    _computed(client_a, _job(request))
    other = client_b.post("/v1/jobs", json=_job(request), headers=USE)
    assert other.status_code == 202
    assert other.headers["x-llm-gateway-cache"] == "miss"


def test_a_session_job_is_not_cached(client_a: httpx.Client, emulator: EmulatorControl) -> None:
    session = client_a.post("/v1/sessions", json={}).json()
    body = _job(_request(), session_id=session["id"])
    response = client_a.post("/v1/jobs", json=body, headers=USE)
    assert response.status_code == 202, response.text
    assert response.headers["x-llm-gateway-cache"] == "skip"
    assert _finished(client_a, response.json()["id"])["cache"] is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_job(_request(tool_loop={"max_iterations": 2})), id="tool_loop"),
        pytest.param(
            _job(
                {
                    "model": "gpt-4o-mini",
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "hi"},
                                {
                                    "type": "document",
                                    "source": {"type": "url", "url": "https://example.com/a"},
                                },
                            ],
                        }
                    ],
                }
            ),
            id="document_by_url",
        ),
        pytest.param({"type": "token_count", "request": _request()}, id="token_count_job"),
    ],
)
def test_what_cannot_be_cached_says_skip(
    client_a: httpx.Client, emulator: EmulatorControl, body: dict[str, Any]
) -> None:
    response = client_a.post("/v1/jobs", json=body, headers=USE)
    # Whether the job is then accepted is the submission's business (example.com is
    # refused by the outbound guard): the answer says what the cache did either way.
    assert response.headers["x-llm-gateway-cache"] == "skip", response.text


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
    response = client_a.post("/v1/jobs", json=_job(_request()), headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_an_invalid_request_is_refused_as_without_the_cache(client_a: httpx.Client) -> None:
    body = _job(_request(temperature=3))
    plain = client_a.post("/v1/jobs", json=body)
    cached = client_a.post("/v1/jobs", json=body, headers=USE)
    assert cached.status_code == plain.status_code == 422, cached.text
    assert cached.json()["error"] == plain.json()["error"]


@pytest.fixture(scope="module")
def tenant_default_api(stack: Stack) -> Iterator[str]:
    limits = {
        "tenant_a": {"cache_ttl_seconds": 300},
        "tenant_b": {"rpm": 2, "cache_ttl_seconds": 300},
    }
    env = {"LLM_GATEWAY_TENANT_LIMITS": json.dumps(limits)}
    yield stack.start_extra_api("jobs-cache-default-api", env, ready_within=120)
    stack.stop_process("jobs-cache-default-api")


def test_a_tenant_default_turns_the_cache_on_for_jobs_and_off_turns_it_off(
    tenant_default_api: str, emulator: EmulatorControl
) -> None:
    auth = {"Authorization": f"Bearer {KEY_A}"}
    with httpx.Client(base_url=tenant_default_api, headers=auth, timeout=60) as client:
        body = _job(_request())
        miss = client.post("/v1/jobs", json=body)
        assert miss.headers["x-llm-gateway-cache"] == "miss", miss.text
        assert _finished(client, miss.json()["id"])["cache"]["ttl_seconds"] == 300
        hit = client.post("/v1/jobs", json=body)
        assert hit.headers["x-llm-gateway-cache"] == "hit"
        assert hit.json()["cost_usd"] == 0
        off = client.post("/v1/jobs", json=body, headers={"x-llm-gateway-cache": "off"})
        assert off.status_code == 202 and "x-llm-gateway-cache" not in off.headers
        assert _finished(client, off.json()["id"])["cache"] is None


def test_hits_are_not_held_to_the_tenants_rpm(
    tenant_default_api: str, emulator: EmulatorControl
) -> None:
    """rpm 2: the miss takes one request, three hits none, so one more job fits and the
    next is refused."""
    with httpx.Client(
        base_url=tenant_default_api, headers={"X-API-Key": KEY_B}, timeout=60
    ) as client:
        body = _job(_request())
        miss = client.post("/v1/jobs", json=body)
        assert miss.status_code == 202 and miss.headers["x-llm-gateway-cache"] == "miss"
        _finished(client, miss.json()["id"])
        for _ in range(3):
            hit = client.post("/v1/jobs", json=body)
            assert hit.status_code == 202, hit.text
            assert hit.headers["x-llm-gateway-cache"] == "hit"
        assert client.post("/v1/jobs", json=_job(_request())).status_code == 202
        refused = client.post("/v1/jobs", json=_job(_request()))
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["param"] == "rpm"
