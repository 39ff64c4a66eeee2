"""The outbound URL policy: address kinds, allowlist parsing and matching, the canonical
spelling of a URL, URL checks.

DNS answers for made-up hostnames are injected at the resolver boundary; numeric hosts and
``localhost`` go through the real ``getaddrinfo`` (no DNS server involved).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import threading
from dataclasses import replace

import pytest

from gateway.errors import UrlNotAllowed
from gateway.outbound import OutboundPolicy, Resolver, address_kind, canonical_url

PUBLIC = "93.184.216.34"


def answers(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    """A resolver that knows only ``table``; every lookup is appended to ``calls``."""

    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(f"{host}:{port}")
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def policy(allowlist: str = "", table: dict[str, list[str]] | None = None) -> OutboundPolicy:
    return OutboundPolicy.from_allowlist(allowlist, answers(table or {}))


def literal_url(address: str) -> str:
    return f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook"


REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("fd00:ec2::254", "private"),
    ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a00:1", "private"),  # NAT64 form of 10.0.0.1
    ("2002:7f00:1::1", "loopback"),  # 6to4 form of 127.0.0.1
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"),
    ("2001:db8::1", "reserved"),
    ("::7f00:1", "reserved"),
]
ALLOWED = ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_non_public_ip_literal_is_refused_and_named(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind
    with pytest.raises(UrlNotAllowed, match=rf"is an? {re.escape(kind)} address") as refused:
        policy().check_url(literal_url(address), param="webhook.url")
    assert refused.value.param == "webhook.url"
    assert refused.value.status_code == 400


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_hostname_resolving_to_non_public_address_is_refused(address: str, kind: str) -> None:
    with pytest.raises(UrlNotAllowed) as refused:
        policy(table={"hooks.example": [address]}).check_url("https://hooks.example/x", param="u")
    # Which internal address (the kind or the IP) is not said: that would map the network.
    assert refused.value.message.startswith("hooks.example does not resolve to a public address")
    assert address not in refused.value.message and kind not in refused.value.message


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None
    # The literal as the canonical URL writes it (``::ffff:8.8.8.8`` is ``::ffff:808:808``).
    [checked] = policy().check_url(literal_url(address), param="u")
    assert ipaddress.ip_address(checked) == ipaddress.ip_address(address)
    by_name = policy(table={"public.example": [address]})
    assert by_name.check_url("https://public.example/doc", param="u") == [address]


def test_allowlisted_hostname_is_allowed_whatever_it_resolves_to() -> None:
    table = {"hooks.internal": ["10.0.0.1", "127.0.0.1"]}
    allowed = policy("Hooks.Internal", table)
    assert allowed.check_url("http://HOOKS.internal:8080/x", param="u") == table["hooks.internal"]
    # The trailing dot is dropped before the lookup: the same host, the same answer.
    assert allowed.check_url("http://hooks.internal./x", param="u") == table["hooks.internal"]
    with pytest.raises(UrlNotAllowed, match="does not resolve to a public address"):
        policy("other.internal", table).check_url("http://hooks.internal./x", param="u")


def test_cidr_and_ip_entries_allow_only_addresses_inside_them() -> None:
    table = {"a.internal": ["10.20.3.4"], "b.internal": ["10.21.0.1"], "md.internal": ["::1"]}
    allowed = policy("10.20.0.0/16, 169.254.169.254, ::1", table)
    assert allowed.check_url("http://a.internal/", param="u") == ["10.20.3.4"]
    assert allowed.check_url("http://[::ffff:10.20.0.9]/", param="u") == ["::ffff:a14:9"]
    assert allowed.check_url("http://169.254.169.254/latest", param="u") == ["169.254.169.254"]
    assert allowed.check_url("http://md.internal/", param="u") == ["::1"]
    with pytest.raises(UrlNotAllowed, match=r"b\.internal does not resolve to a public address"):
        allowed.check_url("http://b.internal/", param="u")
    with pytest.raises(UrlNotAllowed, match="link-local"):
        allowed.check_url("http://169.254.169.253/", param="u")


def test_wildcard_entry_matches_subdomains_but_not_the_domain_itself() -> None:
    names = ("a.corp.example", "x.y.corp.example", "corp.example", "evilcorp.example")
    table = {name: ["10.0.0.5"] for name in names}
    allowed = policy("*.corp.example", table)
    assert allowed.check_url("http://a.corp.example/", param="u") == ["10.0.0.5"]
    assert allowed.check_url("http://X.Y.corp.example/", param="u") == ["10.0.0.5"]
    for name in ("corp.example", "evilcorp.example"):
        with pytest.raises(UrlNotAllowed, match="does not resolve to a public address"):
            allowed.check_url(f"http://{name}/", param="u")


def test_mixed_public_and_private_answers_are_refused() -> None:
    mixed = policy(table={"mixed.example": [PUBLIC, "192.168.1.1"]})
    with pytest.raises(UrlNotAllowed, match=r"mixed\.example does not resolve to a public address"):
        mixed.check_url("http://mixed.example/", param="u")


def idna_failure(host: str, port: int) -> list[str]:
    raise UnicodeError("label too long")


@pytest.mark.parametrize("resolve", [answers({}), answers({"nowhere.example": []}), idna_failure])
def test_unresolvable_host_is_refused(resolve: Resolver) -> None:
    with pytest.raises(
        UrlNotAllowed, match=r"nowhere\.example does not resolve to a public address"
    ) as refused:
        OutboundPolicy.from_allowlist("", resolve).check_url(
            "http://nowhere.example/", param="documents[3].url"
        )
    assert refused.value.param == "documents[3].url"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/file", "only http and https URLs are allowed"),
        ("file:///etc/passwd", "only http and https URLs are allowed"),
        ("javascript:alert(1)", "only http and https URLs are allowed"),
        ("/relative/path", "only http and https URLs are allowed"),
        ("http://user:s3cret@example.com/", "must not contain credentials"),
        ("http://user@example.com/", "must not contain credentials"),
        ("http:///path-only", "the URL has no host"),
        ("http://[::1/", "the URL is malformed"),
        ("http://exa\nmple.com/", "the URL is malformed"),
        ("http://example.com:99999/", "port is out of range"),
    ],
)
def test_malformed_urls_are_refused_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(UrlNotAllowed, match=message) as refused:
        policy(table={"example.com": [PUBLIC]}).check_url(url, param="webhook.url")
    assert "s3cret" not in refused.value.message
    assert refused.value.param == "webhook.url"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("http://127.0.0.1.:8080/hook", "http://127.0.0.1:8080/hook"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://127.1/a?b=1", "http://127.0.0.1/a?b=1"),
        ("HTTP://LOCALHOST.:80/Hook", "http://localhost/Hook"),
        ("https://Hooks.Example.COM.:443/x", "https://hooks.example.com/x"),
        ("http://bücher.example/doc", "http://xn--bcher-kva.example/doc"),
        ("http://[::FFFF:127.0.0.1]:8080/", "http://[::ffff:7f00:1]:8080/"),
        ("http://example.com", "http://example.com/"),
    ],
)
def test_a_url_has_one_canonical_spelling(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical
    assert canonical_url(canonical) == canonical


def test_the_check_reads_the_canonical_url() -> None:
    # Before, "127.0.0.1." was a name the resolver did not know, and IPv4 in a CIDR entry
    # did not match it.
    allowed = policy("127.0.0.0/8")
    assert allowed.check_url("http://127.0.0.1.:8080/hook", param="u") == ["127.0.0.1"]
    with pytest.raises(UrlNotAllowed, match=r"127\.0\.0\.1 is a loopback address") as refused:
        policy().check_url("http://127.0.0.1.:8080/hook", param="request.document.url")
    assert refused.value.param == "request.document.url"


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f.1/", "http://localhost/"])
def test_other_spellings_of_loopback_are_refused_once_resolved(url: str) -> None:
    with pytest.raises(UrlNotAllowed, match=r"loopback|does not resolve to a public address"):
        OutboundPolicy.from_allowlist("").check_url(url, param="u")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("10.0.0.0/33", "does not appear to be an IPv4 or IPv6 network"),
        ("10.0.0.1/8", "has host bits set"),
        ("256.1.1.1", "not a hostname"),
        ("1.2.3.4.5", "not a hostname"),
        ("fd00::g", "not a hostname"),
        ("http://hooks.internal", "not a hostname"),
        ("exa mple.com", "not a hostname"),
        ("*", "not a hostname"),
        ("foo.*.example", "not a hostname"),
        ("bücher.example", "punycode"),
    ],
)
def test_malformed_allowlist_entry_fails_at_start_up(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        OutboundPolicy.from_allowlist(f"hooks.internal, {entry}")
    assert f"outbound allowlist entry {entry!r}" in str(refused.value)


def test_allowlist_parses_every_kind_of_entry() -> None:
    parsed = OutboundPolicy.from_allowlist(" Hooks.Internal. , *.corp.example,10.20.0.0/16, ::1,,")
    assert parsed.hosts == frozenset({"hooks.internal"})
    assert parsed.host_suffixes == (".corp.example",)
    assert parsed.networks == (
        ipaddress.ip_network("10.20.0.0/16"),
        ipaddress.ip_network("::1/128"),
    )
    assert OutboundPolicy.from_allowlist("") == OutboundPolicy()


def test_check_urls_resolves_each_host_and_port_once() -> None:
    calls: list[str] = []
    many = OutboundPolicy.from_allowlist("", answers({"docs.example": [PUBLIC]}, calls))
    urls = {f"documents[{i}].url": f"https://docs.example/doc/{i}" for i in range(2000)}
    urls["documents[2000].url"] = "http://docs.example/other-port"
    checked = many.check_urls(urls)
    assert sorted(calls) == ["docs.example:443", "docs.example:80"]
    assert list(checked) == list(urls)
    assert checked["documents[1999].url"] == [PUBLIC]


def test_check_urls_refuses_the_first_bad_url_with_its_own_param() -> None:
    table = {"ok.example": [PUBLIC], "intranet.example": ["10.1.1.1"]}
    urls = {
        "documents[0].url": "https://ok.example/a",
        "documents[1].url": "https://intranet.example/b",
        "documents[2].url": "ftp://ok.example/c",
        "documents[3].url": "https://intranet.example/d",
    }
    with pytest.raises(UrlNotAllowed, match="does not resolve to a public") as refused:
        policy(table=table).check_urls(urls)
    assert refused.value.param == "documents[1].url"
    urls["documents[1].url"] = "https://ok.example/b"
    with pytest.raises(UrlNotAllowed, match="only http and https") as refused:
        policy(table=table).check_urls(urls)
    assert refused.value.param == "documents[2].url"
    assert policy(table=table).check_urls({}) == {}


def test_async_checks_resolve_off_the_event_loop_thread() -> None:
    threads: list[int] = []

    def resolve(host: str, port: int) -> list[str]:
        threads.append(threading.get_ident())
        return [PUBLIC]

    checker = OutboundPolicy.from_allowlist("", resolve)

    async def check() -> tuple[list[str], dict[str, list[str]]]:
        one = await checker.check_url_async("https://a.example/", param="webhook.url")
        many = await checker.check_urls_async({"d[0].url": "https://b.example/"})
        return one, many

    assert asyncio.run(check()) == ([PUBLIC], {"d[0].url": [PUBLIC]})
    assert len(threads) == 2
    assert threading.get_ident() not in threads


def test_a_storage_endpoint_is_reached_exactly_by_host_and_port() -> None:
    # The gateway's own local S3: its presigned URLs work, nothing else on that host does.
    allowed = policy().allowing_endpoints(["http://127.0.0.1:5000", "http://minio.local:9000"])
    assert allowed.check_url("http://127.0.0.1:5000/rag-docs/a.pdf?X-Amz-Signature=x", param="u")
    table = {"minio.local": ["10.1.2.3"]}
    named = replace(allowed, resolve=answers(table))
    assert named.check_url("http://minio.local:9000/b/k", param="u") == ["10.1.2.3"]
    for url in ("http://127.0.0.1:5001/", "http://127.0.0.1/", "http://localhost:5000/"):
        with pytest.raises(UrlNotAllowed):
            allowed.check_url(url, param="u")
    with pytest.raises(UrlNotAllowed):
        named.check_url("http://minio.local:80/b/k", param="u")
