"""``DownstreamClient`` against the stand-in: which failures are retried and how often,
Retry-After, timeouts, a service that is down, and how answers are decoded."""

from __future__ import annotations

import time

import pytest

from emulator.downstream import DownstreamControl
from gateway.errors import ToolFailed, ToolTimeout, ToolUnavailable
from tests.tools.stand_in import DownstreamServer
from tools.downstream import DownstreamClient


def post_search(client: DownstreamClient, server: DownstreamServer, **kwargs: float) -> object:
    return client.request(
        "semantic_search", "POST", f"{server.url}/v1/search", json={"query": "redis"}, **kwargs
    )


def test_503_twice_then_success_is_retried_to_success(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=503, times=2)
    answer = post_search(http, downstream_server)
    assert isinstance(answer, dict)
    assert answer["results"]
    assert [r["status"] for r in downstream.requests()] == [503, 503, 200]


def test_persistent_5xx_fails_after_max_attempts_with_the_service_message(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=502)
    with pytest.raises(ToolUnavailable) as caught:
        post_search(http, downstream_server)
    assert caught.value.to_dict() == {
        "type": "tool_unavailable",
        "message": "semantic_search answered 502: injected failure 502",
        "param": None,
    }
    assert caught.value.status_code == 503
    assert len(downstream.requests()) == 3


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_4xx_is_not_retried(
    http: DownstreamClient,
    downstream_server: DownstreamServer,
    downstream: DownstreamControl,
    status: int,
) -> None:
    downstream.behave("/v1/search", status=status)
    with pytest.raises(ToolFailed) as caught:
        post_search(http, downstream_server)
    assert type(caught.value) is ToolFailed
    assert caught.value.status_code == 502
    assert f"answered {status}" in caught.value.message
    assert len(downstream.requests()) == 1


def test_429_waits_for_a_small_retry_after(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=429, times=1, retry_after=0.4)
    post_search(http, downstream_server)
    first, second = downstream.requests()
    assert first["status"] == 429
    assert second["t_start"] - first["t_end"] >= 0.35


def test_a_long_retry_after_is_passed_on_instead_of_waited_for(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=503, retry_after=30)
    started = time.monotonic()
    with pytest.raises(ToolUnavailable, match="answered 503") as caught:
        post_search(http, downstream_server)
    assert time.monotonic() - started < 15  # generous: waiting would take 30 s
    assert caught.value.retry_after == 30
    assert caught.value.to_dict()["retry_after"] == 30
    assert len(downstream.requests()) == 1


def test_a_slow_service_times_out_within_the_budget(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", latency_ms=1500)
    started = time.monotonic()
    with pytest.raises(ToolTimeout) as caught:
        post_search(http, downstream_server, timeout_seconds=0.4)
    elapsed = time.monotonic() - started
    assert 0.35 < elapsed < 1.4  # cut short of the 1.5 s answer
    assert caught.value.to_dict() == {
        "type": "tool_timeout",
        "message": "semantic_search did not answer within 0.4s",
        "param": None,
    }
    assert caught.value.status_code == 504
    # The whole budget went on the first attempt: there was no time for another.
    assert len(downstream.requests()) == 1


def test_a_timeout_is_retried_while_the_budget_lasts(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=503, latency_ms=100, times=1)
    answer = post_search(http, downstream_server, timeout_seconds=2)
    assert isinstance(answer, dict)
    assert len(downstream.requests()) == 2


def test_a_stopped_service_is_unavailable(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream_server.stop()
    started = time.monotonic()
    with pytest.raises(ToolUnavailable, match="unreachable") as caught:
        post_search(http, downstream_server)
    assert time.monotonic() - started < 10  # generous: a hang is what this catches
    assert type(caught.value) is ToolUnavailable
    assert caught.value.message == "semantic_search is unreachable"


def test_non_json_answers_come_back_as_text(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=200, body="plain words", times=1)
    assert post_search(http, downstream_server) == "plain words"


def test_error_bodies_that_are_not_json_give_the_status_line(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=403, body="<html>Forbidden by proxy</html>")
    with pytest.raises(ToolFailed) as caught:
        post_search(http, downstream_server)
    assert caught.value.message == "semantic_search answered 403: 403 Forbidden"


def test_long_service_messages_are_truncated(
    http: DownstreamClient, downstream_server: DownstreamServer, downstream: DownstreamControl
) -> None:
    downstream.behave("/v1/search", status=400, body='{"error": {"message": "' + "x" * 5000 + '"}}')
    with pytest.raises(ToolFailed) as caught:
        post_search(http, downstream_server)
    prefix = "semantic_search answered 400: "
    assert caught.value.message.startswith(prefix + "xxx")
    assert len(caught.value.message) == len(prefix) + 500
    assert caught.value.message.endswith("...")
