"""The guarded client and fetch_document against real HTTP(S) servers on 127.0.0.1.

DNS answers for made-up hostnames are injected at the resolver boundary. A request to such a
name can only succeed if the client connects to the checked address rather than the name.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.errors import DocumentUnavailable, UrlNotAllowed
from gateway.outbound import OutboundPolicy
from gateway.outbound_http import (
    FetchedDocument,
    fetch_document,
    guarded_client,
    overall_deadline,
)

LIMIT = 1000
BODIES: dict[str, tuple[str, bytes]] = {
    "/ok": ("text/plain", b"hello"),
    "/exact": ("text/plain", b"a" * LIMIT),
    "/over-length": ("text/plain", b"a" * (LIMIT + 1)),
    "/missing": ("text/plain", b"no such document"),
    "/png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "/pdf": ("application/pdf", b"%PDF-1.7"),
    "/latin1": ("text/plain; charset=iso-8859-1", b"caf\xe9"),
    "/nul": ("application/octet-stream", b"a\x00b"),
    "/bom": ("text/markdown; charset=utf-8", b"\xef\xbb\xbf# Title"),
    "/octet": ("application/octet-stream", b"plain words"),
    "/json": ("application/json", b'{"a": 1}'),
    "/gzip": ("text/plain", b"\x1f\x8b not really gzip"),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host", "")))
        self.close_connection = True
        path = urlsplit(self.path).path
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if path in ("/redirect", "/redirect-elsewhere"):
                self.send_response(302)
                port = self.server.server_address[1]
                elsewhere = f"http://elsewhere.internal:{port}/ok?after-redirect"
                self.send_header(
                    "Location", elsewhere if "elsewhere" in path else "/ok?after-redirect"
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/host":
                self.reply(200, "text/plain", self.headers.get("Host", "").encode())
            elif path == "/chunked-over":
                self.reply_chunked([b"a" * 400] * 10, delay=0.0)
            elif path == "/drip":
                self.reply_chunked([b"a"] * 40, delay=0.05)
            elif path == "/drip-headers":
                # One header byte at a time: each read is quick, the whole never ends.
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 40:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            elif path == "/slow":
                time.sleep(0.6)
                self.reply(200, "text/plain", b"late")
            else:
                content_type, body = BODIES[path]
                self.reply(404 if path == "/missing" else 200, content_type, body)

    def do_POST(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host", "")))
        self.close_connection = True
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        echo = f"{self.headers.get('Host')} {self.headers.get('User-Agent')} {body.decode()}"
        self.reply(200, "text/plain", echo.encode())

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/gzip":
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def reply_chunked(self, chunks: list[bytes], delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            time.sleep(delay)
        self.wfile.write(b"0\r\n\r\n")


class LocalServer(ThreadingHTTPServer):
    seen: list[tuple[str, str]]  # (path, Host header) of every request
    sni: list[str | None]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeouts, size limits) is expected here


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    server = LocalServer(("127.0.0.1", 0), Handler)
    server.seen, server.sni = [], []
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: server.sni.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with serving() as local:
        yield local


def base(server: LocalServer, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.server_address[1]}"


def resolving(allowlist: str, table: dict[str, list[str]]) -> OutboundPolicy:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return OutboundPolicy.from_allowlist(allowlist, resolve)


LOOPBACK_ALLOWED = OutboundPolicy.from_allowlist("127.0.0.1/32")


def fetch(server: LocalServer, path: str, timeout: float = 2.0) -> FetchedDocument:
    with guarded_client(LOOPBACK_ALLOWED, timeout=timeout) as client:
        return fetch_document(client, base(server) + path, max_bytes=LIMIT)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_without_allowlist(server: LocalServer, host: str) -> None:
    with (
        guarded_client(OutboundPolicy.from_allowlist(""), timeout=2) as client,
        pytest.raises(UrlNotAllowed, match=r"loopback|does not resolve to a public address"),
    ):
        client.get(base(server, host) + f"/ok?refused-{host}")
    assert not [seen for seen in server.seen if seen[0] == f"/ok?refused-{host}"]


@pytest.mark.parametrize(
    ("allowlist", "host"), [("localhost", "localhost"), ("127.0.0.1/32", "127.0.0.1")]
)
def test_loopback_is_reached_when_allowlisted(
    server: LocalServer, allowlist: str, host: str
) -> None:
    with guarded_client(OutboundPolicy.from_allowlist(allowlist), timeout=2) as client:
        response = client.get(base(server, host) + "/host")
    assert response.status_code == 200
    assert response.text == f"{host}:{server.server_address[1]}"


def test_client_connects_to_the_checked_address_and_sends_the_hostname(server: LocalServer) -> None:
    policy = resolving("hooks.internal", {"hooks.internal": ["127.0.0.1"]})
    headers = {"User-Agent": "llm-gateway-webhooks"}
    with guarded_client(policy, timeout=2, headers=headers) as client:
        response = client.post(base(server, "hooks.internal") + "/hook", content=b'{"a": 1}')
    port = server.server_address[1]
    assert response.text == f'hooks.internal:{port} llm-gateway-webhooks {{"a": 1}}'


def test_connect_tries_each_checked_address_in_turn(server: LocalServer) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.2", 0))  # bound, never listening: the connection is refused
    policy = resolving("multi.internal", {"multi.internal": ["127.0.0.2", "127.0.0.1"]})
    with closed, guarded_client(policy, timeout=2) as client:
        assert client.get(base(server, "multi.internal") + "/ok").text == "hello"


def test_dns_rebinding_after_the_check_is_refused_at_connect(server: LocalServer) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    policy = OutboundPolicy.from_allowlist("", lambda host, port: next(answers))
    url = base(server, "rebind.example") + "/ok?rebound"
    assert policy.check_url(url, param="webhook.url") == ["93.184.216.34"]
    with (
        guarded_client(policy, timeout=2) as client,
        pytest.raises(UrlNotAllowed, match=r"rebind\.example does not resolve to a public address"),
    ):
        client.get(url)
    assert not [seen for seen in server.seen if seen[0] == "/ok?rebound"]


def test_redirect_is_not_followed(server: LocalServer) -> None:
    with guarded_client(LOOPBACK_ALLOWED, timeout=2) as client:
        response = client.get(base(server) + "/redirect")
    assert response.status_code == 302
    assert not [seen for seen in server.seen if seen[0] == "/ok?after-redirect"]
    with pytest.raises(DocumentUnavailable, match="answered 302; redirects are not followed"):
        fetch(server, "/redirect")


def test_redirect_followed_on_request_still_goes_through_the_guard(server: LocalServer) -> None:
    table = {"hooks.internal": ["127.0.0.1"], "elsewhere.internal": ["127.0.0.1"]}
    with (
        guarded_client(resolving("hooks.internal", table), timeout=2) as client,
        pytest.raises(
            UrlNotAllowed, match=r"elsewhere\.internal does not resolve to a public address"
        ),
    ):
        client.get(base(server, "hooks.internal") + "/redirect-elsewhere", follow_redirects=True)
    assert not [seen for seen in server.seen if seen[0] == "/ok?after-redirect"]


def test_credentials_in_url_are_refused_by_the_client(server: LocalServer) -> None:
    url = f"http://user:s3cret@127.0.0.1:{server.server_address[1]}/ok?with-credentials"
    with (
        guarded_client(LOOPBACK_ALLOWED, timeout=2) as client,
        pytest.raises(UrlNotAllowed, match="must not contain credentials"),
    ):
        client.get(url)
    assert not [seen for seen in server.seen if seen[0] == "/ok?with-credentials"]


def self_signed(directory: Path, hostname: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_uses_the_hostname_for_sni_and_certificate(tmp_path: Path) -> None:
    cert_path, key_path = self_signed(tmp_path, "hooks.internal")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    trust = ssl.create_default_context(cafile=str(cert_path))
    policy = resolving("hooks.internal", {"hooks.internal": ["127.0.0.1"]})
    with serving(server_tls) as tls_server:
        url = f"https://hooks.internal:{tls_server.server_address[1]}/host"
        with guarded_client(policy, timeout=2, ssl_context=trust) as client:
            response = client.get(url)
    assert response.status_code == 200
    assert response.text == f"hooks.internal:{tls_server.server_address[1]}"
    assert tls_server.sni == ["hooks.internal"]


def test_fetch_document_reads_text(server: LocalServer) -> None:
    assert fetch(server, "/ok") == FetchedDocument("hello", "text/plain", 5)


@pytest.mark.parametrize(
    ("path", "text", "content_type"),
    [
        ("/exact", "a" * LIMIT, "text/plain"),
        ("/bom", "# Title", "text/markdown"),
        ("/octet", "plain words", "application/octet-stream"),
        ("/json", '{"a": 1}', "application/json"),
    ],
)
def test_text_like_documents_are_accepted(
    server: LocalServer, path: str, text: str, content_type: str
) -> None:
    document = fetch(server, path)
    assert (document.text, document.content_type) == (text, content_type)
    assert document.bytes == len(BODIES[path][1])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/over-length", f"the document is larger than {LIMIT} bytes"),
        ("/chunked-over", f"the document is larger than {LIMIT} bytes"),
        ("/missing", "could not be fetched: the server answered 404"),
        ("/png", r"the document is not text \(content type image/png\)"),
        ("/pdf", r"the document is not text \(content type application/pdf\)"),
        ("/latin1", "the document is not valid UTF-8 text"),
        ("/nul", "it contains NUL bytes"),
        ("/gzip", "compressed responses are not accepted"),
    ],
)
def test_unusable_documents_are_refused(server: LocalServer, path: str, message: str) -> None:
    with pytest.raises(DocumentUnavailable, match=message) as refused:
        fetch(server, path)
    assert refused.value.status_code == 422


def test_slow_server_times_out(server: LocalServer) -> None:
    with pytest.raises(DocumentUnavailable, match="could not be fetched: timed out"):
        fetch(server, "/slow", timeout=0.2)


def test_dripping_server_is_cut_off_at_the_total_timeout(server: LocalServer) -> None:
    started = time.monotonic()
    with pytest.raises(DocumentUnavailable, match="could not be fetched: timed out"):
        fetch(server, "/drip", timeout=0.3)
    assert time.monotonic() - started < 1.8  # generous, yet short of the 2 s drip


def test_headers_dripping_server_is_cut_off_at_the_total_timeout(server: LocalServer) -> None:
    started = time.monotonic()
    with pytest.raises(DocumentUnavailable, match="could not be fetched: timed out"):
        fetch(server, "/drip-headers", timeout=0.3)
    assert time.monotonic() - started < 2.0  # generous, yet short of the 2.5 s drip


def test_overall_deadline_bounds_a_whole_request_not_each_read(server: LocalServer) -> None:
    policy = OutboundPolicy.from_allowlist("127.0.0.1")
    with guarded_client(policy, timeout=5.0) as client:
        started = time.monotonic()
        with (
            pytest.raises(httpx.TimeoutException, match=r"timed out|deadline"),
            overall_deadline(0.3),
        ):
            client.get(f"{base(server)}/drip-headers")
        assert time.monotonic() - started < 2.0  # generous, yet short of the 2.5 s drip
        # Outside the deadline the same client is unbounded again (per-read timeouts only).
        assert client.get(f"{base(server)}/ok").text == "hello"


def test_connection_failure_is_reported() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    with closed, guarded_client(LOOPBACK_ALLOWED, timeout=2) as client:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/doc"
        with pytest.raises(DocumentUnavailable, match="could not be fetched: connection failed"):
            fetch_document(client, url, max_bytes=LIMIT)


def test_fetching_a_refused_url_raises_url_not_allowed(server: LocalServer) -> None:
    with (
        guarded_client(OutboundPolicy.from_allowlist(""), timeout=2) as client,
        pytest.raises(UrlNotAllowed, match=r"loopback|does not resolve to a public address"),
    ):
        fetch_document(client, base(server) + "/ok", max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("url", "message"),
    [("http://[::1/doc", "the URL is invalid"), ("ftp://127.0.0.1/doc", "connection failed")],
)
def test_malformed_document_url_is_reported(url: str, message: str) -> None:
    with (
        guarded_client(LOOPBACK_ALLOWED, timeout=2) as client,
        pytest.raises(DocumentUnavailable, match=message),
    ):
        fetch_document(client, url, max_bytes=LIMIT)
