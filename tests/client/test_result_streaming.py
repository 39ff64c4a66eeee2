"""``batch_results`` reads the JSONL as it arrives: the first line is in the caller's hands
while the server is still writing the rest (a huge results file is never held whole)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from client import GatewayClient
from tests.client.stub_gateway import stub_gateway


def test_first_result_arrives_before_the_server_finishes_writing() -> None:
    rest_may_follow = threading.Event()

    def slow_results(handler: BaseHTTPRequestHandler) -> None:
        # HTTP/1.0 without Content-Length: the body ends when the connection closes.
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.end_headers()
        for custom_id in ("a.md", "b.md"):
            line = {"custom_id": custom_id, "job_id": f"job_{custom_id}", "status": "running"}
            handler.wfile.write(json.dumps(line).encode() + b"\n")
            handler.wfile.flush()
            rest_may_follow.wait(10)

    answers = {"/v1/batches/batch_slow/results": slow_results}
    with stub_gateway(answers) as url, GatewayClient(url) as client:
        results = client.batch_results("batch_slow")
        started = time.monotonic()
        first = next(results)
        assert time.monotonic() - started < 5
        assert (first.custom_id, first.status, first.result) == ("a.md", "running", None)
        rest_may_follow.set()
        assert [r.custom_id for r in results] == ["b.md"]
