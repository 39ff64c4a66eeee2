"""The SSRF guard through the real API and workers: webhook and document URLs that reach
loopback, private, link-local or metadata addresses are refused at submission (400), and
documents are fetched by the worker within limits. The stack allowlists ``localhost``
only (the tests' own receivers); 127.0.0.1 itself stays refused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from emulator import EmulatorControl
from tests.support.processes import Stack, free_port

COMPLETION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://192.168.1.10/hook",
    "http://[::1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://0.0.0.0/hook",
    # A hostname that resolves to a refused address (this machine's own name: loopback).
    f"http://{socket.gethostname()}/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_webhook_urls_to_internal_addresses_are_refused(client_a: httpx.Client, url: str) -> None:
    response = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": COMPLETION, "webhook": {"url": url}}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "url_not_allowed"
    assert error["param"] == "webhook.url"
    assert client_a.get("/v1/jobs").json()["data"] == []


@pytest.mark.parametrize("url", REFUSED[:4])
def test_document_urls_to_internal_addresses_are_refused(client_a: httpx.Client, url: str) -> None:
    body = {"model": "gpt-4o-mini", "documents": [{"text": "# A\n"}, {"url": url}]}
    response = client_a.post("/v1/batches", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "type": "url_not_allowed",
        "message": response.json()["error"]["message"],
        "param": "documents[1].url",
    }


def test_allowlisted_host_is_accepted(client_a: httpx.Client) -> None:
    url = f"http://localhost:{free_port()}/hook"
    response = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": COMPLETION, "webhook": {"url": url}}
    )
    assert response.status_code == 202, response.text
    assert response.json()["webhook"]["url"] == url


def test_credentials_in_a_webhook_url_are_refused_without_being_echoed(
    client_a: httpx.Client,
) -> None:
    url = "http://user:s3cr3t-pass@localhost:9/hook"
    response = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": COMPLETION, "webhook": {"url": url}}
    )
    assert response.status_code == 400
    assert "s3cr3t-pass" not in response.text


# Spellings of one host, and the one URL every field keeps (None: refused, by every field
# with the same words). The stack allowlists "localhost" only.
SPELLINGS = [
    ("http://LOCALHOST:{port}/hook", "http://localhost:{port}/hook"),
    ("http://localhost.:{port}/hook", "http://localhost:{port}/hook"),
    ("HTTP://LocalHost.:{port}/hook?x=1", "http://localhost:{port}/hook?x=1"),
    ("http://127.0.0.1.:{port}/hook", None),
    ("http://2130706433:{port}/hook", None),
    ("http://0x7f.1:{port}/hook", None),
    ("http://bücher.invalid/hook", None),
]


@pytest.mark.parametrize(("spelling", "canonical"), SPELLINGS)
def test_webhook_and_document_urls_are_read_the_same_way(
    client_a: httpx.Client, spelling: str, canonical: str | None
) -> None:
    port = free_port()
    url = spelling.format(port=port)
    as_webhook = client_a.post(
        "/v1/jobs", json={"type": "completion", "request": COMPLETION, "webhook": {"url": url}}
    )
    enhancement = {"model": "gpt-4o-mini", "document": {"url": url}, "options": {"review": False}}
    as_document = client_a.post("/v1/jobs", json={"type": "enhancement", "request": enhancement})
    in_batch = client_a.post(
        "/v1/batches",
        json={"model": "gpt-4o-mini", "documents": [{"url": url}], "webhook": {"url": url}},
    )
    answers = (as_webhook, as_document, in_batch)
    if canonical is None:
        assert [r.status_code for r in answers] == [400, 400, 400], [r.text for r in answers]
        errors = [r.json()["error"] for r in answers]
        assert [e["param"] for e in errors] == [
            "webhook.url",
            "request.document.url",
            "documents[0].url",
        ]
        assert len({(e["type"], e["message"]) for e in errors}) == 1, errors
        assert errors[0]["type"] == "url_not_allowed"
        return
    assert [r.status_code for r in answers] == [202, 202, 202], [r.text for r in answers]
    batch_job = next(
        job
        for job in client_a.get("/v1/jobs", params={"expand": "request"}).json()["data"]
        if job["batch_id"] == in_batch.json()["id"]
    )
    kept = [
        as_webhook.json()["webhook"]["url"],
        as_document.json()["request"]["document"]["url"],
        in_batch.json()["webhook"]["url"],
        batch_job["request"]["document"]["url"],
    ]
    assert kept == [canonical.format(port=port)] * 4
    client_a.post(f"/v1/batches/{in_batch.json()['id']}/cancel")
    for job in (as_webhook, as_document):
        client_a.post(f"/v1/jobs/{job.json()['id']}/cancel")


def test_tenant_without_a_listed_secret_gets_a_derived_one(client_b: httpx.Client) -> None:
    secrets = client_b.get("/v1/webhooks/secret").json()["secrets"]
    assert len(secrets) == 1 and secrets[0].startswith("whsec_")


class _Documents:
    """A document server on localhost: /ok.md, /big.md, /moved, /image.png, /missing."""

    def __init__(self, big_bytes: int) -> None:
        self.port = free_port()
        big = b"# Big\n\n" + b"word " * (big_bytes // 5)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {
                    "/ok.md": (200, "text/markdown", b"# Fetched\n\nFrom a URL.\n", {}),
                    "/big.md": (200, "text/markdown", big, {}),
                    "/moved": (302, "text/plain", b"", {"location": "http://localhost/ok.md"}),
                    "/image.png": (200, "image/png", b"\x89PNG\r\n\x1a\n", {}),
                }
                status, kind, body, headers = routes.get(self.path, (404, "text/plain", b"", {}))
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"


@pytest.fixture
def documents() -> Iterator[_Documents]:
    server = _Documents(big_bytes=1_200_000)  # over the 1 MiB default document limit
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_documents_given_by_url_are_fetched_and_bad_ones_fail_alone(
    client_a: httpx.Client,
    emulator: EmulatorControl,
    downstream: Stack,
    documents: _Documents,
) -> None:
    paths = ["/ok.md", "/big.md", "/moved", "/image.png", "/missing"]
    body = {
        "model": "gpt-4o-mini",
        "documents": [{"custom_id": p, "url": documents.url(p)} for p in paths],
        "options": {"review": False},
    }
    batch = client_a.post("/v1/batches", json=body).json()
    lines: list[dict[str, Any]] = []
    for _ in range(300):
        current = client_a.get(f"/v1/batches/{batch['id']}").json()
        if current["status"] == "completed":
            lines = [
                httpx.Response(200, content=line).json()
                for line in client_a.get(f"/v1/batches/{batch['id']}/results").content.splitlines()
            ]
            break
        threading.Event().wait(0.1)
    by_id = {line["custom_id"]: line for line in lines}
    assert by_id["/ok.md"]["status"] == "succeeded"
    assert "# Fetched" in by_id["/ok.md"]["result"]["document"]
    expected = {
        "/big.md": "larger than 1048576 bytes",
        "/moved": "redirect",
        "/image.png": "image/png",
        "/missing": "404",
    }
    for custom_id, words in expected.items():
        line = by_id[custom_id]
        assert line["status"] == "failed", line
        assert line["error"]["type"] == "document_unavailable"
        assert words in line["error"]["message"], line["error"]
