"""Answers that are not the gateway's, from a real HTTP server on 127.0.0.1 standing in for
a proxy in front of it: the client still raises ``GatewayClientError``, never a
dependency's exception."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from client import GatewayClient, GatewayClientError
from tests.client.stub_gateway import canned, stub_gateway

ANSWERS = {
    "/v1/jobs/job_html": canned(502, "text/html", b"<html><body>Bad Gateway</body></html>"),
    "/v1/jobs/job_empty": canned(503, "text/plain", b""),
    "/v1/jobs/job_list_error": canned(500, "application/json", b'["boom"]'),
    "/v1/jobs/job_not_json": canned(200, "text/plain", b"hello"),
    "/v1/jobs/job_wrong_shape": canned(
        200, "application/json", b'{"id": "job_wrong_shape", "type": "completion"}'
    ),
    "/v1/batches/batch_x/results": canned(
        200, "application/x-ndjson", b'{"custom_id": "a", "status": "succeeded"}\nnot json\n'
    ),
    "/v1/webhooks/secret": canned(200, "application/json", b'{"secrets": "whsec_x"}'),
}


@pytest.fixture(scope="module")
def proxy() -> Iterator[GatewayClient]:
    with stub_gateway(ANSWERS) as url, GatewayClient(url) as client:
        yield client


def raised(call: object) -> GatewayClientError:
    assert callable(call)
    with pytest.raises(GatewayClientError) as caught:
        call()
    return caught.value


def test_html_error_page_gives_the_status_and_the_text(proxy: GatewayClient) -> None:
    error = raised(lambda: proxy.get("job_html"))
    assert (error.status_code, error.type) == (502, "http_502")
    assert "Bad Gateway" in error.message and error.param is None


def test_empty_error_body_gives_the_status_line(proxy: GatewayClient) -> None:
    error = raised(lambda: proxy.get("job_empty"))
    assert (error.status_code, error.type) == (503, "http_503")
    assert error.message == "HTTP 503 Service Unavailable"


def test_json_error_body_of_another_shape_gives_the_status(proxy: GatewayClient) -> None:
    error = raised(lambda: proxy.get("job_list_error"))
    assert (error.status_code, error.type) == (500, "http_500")


def test_success_that_is_not_json_is_an_invalid_response(proxy: GatewayClient) -> None:
    error = raised(lambda: proxy.get("job_not_json"))
    assert (error.status_code, error.type) == (200, "invalid_response")


def test_success_that_is_not_a_job_is_an_invalid_response(proxy: GatewayClient) -> None:
    error = raised(lambda: proxy.get("job_wrong_shape"))
    assert error.type == "invalid_response"
    assert "not a Job" in error.message and "status" in error.message


def test_a_bad_results_line_is_an_invalid_response_after_the_good_ones(
    proxy: GatewayClient,
) -> None:
    results = proxy.batch_results("batch_x")
    assert next(results).custom_id == "a"
    error = raised(lambda: next(results))
    assert error.type == "invalid_response" and "BatchResult" in error.message


def test_error_while_streaming_results_is_raised_before_any_line(proxy: GatewayClient) -> None:
    error = raised(lambda: list(proxy.batch_results("batch_missing")))
    assert (error.status_code, error.type) == (404, "http_404")
    assert "nothing here" in error.message


def test_secrets_that_are_not_a_list_are_an_invalid_response(proxy: GatewayClient) -> None:
    assert raised(proxy.webhook_secrets).type == "invalid_response"
