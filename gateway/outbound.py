"""The SSRF guard for every URL the gateway reaches on a client's behalf (webhooks, documents).

``canonical_url`` gives every such URL one spelling, whichever field it came in; the gateway
checks, stores and reaches that spelling. ``OutboundPolicy.check_url`` refuses, at
submission, a URL whose host resolves to a loopback, private, link-local, unspecified,
multicast, reserved or CGNAT address (IPv4-mapped, NAT64 and 6to4 forms included) unless
the operator allowlisted the host or a CIDR holding the address.
Workers connect through ``gateway.outbound_http.guarded_client``, which runs the same check
again at connect time and connects only to the addresses it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

import httpx
import structlog
from pydantic_core import Url
from pydantic_core import ValidationError as PydanticCoreValidationError

from gateway.errors import UrlNotAllowed

__all__ = [
    "CREDENTIALS_REFUSED",
    "OutboundPolicy",
    "Resolver",
    "address_kind",
    "canonical_url",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the host's addresses; raises OSError (or returns []) when it has none.
Resolver = Callable[[str, int], list[str]]
T = TypeVar("T")

_PARALLEL_LOOKUPS = 16
CREDENTIALS_REFUSED = "the URL must not contain credentials (user:password@)"
# The same words whether a name resolves to an internal address or not at all.
_NOT_PUBLIC = (
    "{host} does not resolve to a public address; outbound URLs must reach public "
    "addresses (an operator can allowlist internal hosts)"
)

log = structlog.get_logger(__name__)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``socket.getaddrinfo`` gives for ``host``, both families, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _networks(kind: str, *cidrs: str) -> list[tuple[str, IPNetwork]]:
    return [(kind, ipaddress.ip_network(cidr)) for cidr in cidrs]


# Checked in order, the first match names the kind. Whatever else Python does not call global
# (documentation, benchmarking, Teredo, ...) is "reserved".
_REFUSED_NETWORKS = (
    _networks("unspecified", "0.0.0.0/8", "::/128")
    + _networks("loopback", "127.0.0.0/8", "::1/128")
    + _networks("private", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
    + _networks("link-local", "169.254.0.0/16", "fe80::/10")
    + _networks("shared (CGNAT)", "100.64.0.0/10")
    + _networks("multicast", "224.0.0.0/4", "ff00::/8")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 IPv6 address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be reached ("loopback", "private", ...); None for a public address."""
    effective = _embedded_ipv4(ip) or ip
    for kind, network in _REFUSED_NETWORKS:
        if effective in network:
            return kind
    return None if effective.is_global and not effective.is_reserved else "reserved"


_HOSTNAME = re.compile(r"(\*\.)?([a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
_NUMERIC = re.compile(r"[0-9a-f.:/]+")


def _parse_entry(entry: str) -> IPNetwork | str:
    """One allowlist entry: a network (an IP is a /32 or /128) or a lower-case host pattern."""
    try:
        return ipaddress.ip_network(entry)
    except ValueError as exc:
        if ("/" in entry or ":" in entry) and _NUMERIC.fullmatch(entry.lower()):
            raise ValueError(f"outbound allowlist entry {entry!r}: {exc}") from None
    name = entry.lower().rstrip(".")
    if not _HOSTNAME.fullmatch(name) or name.rsplit(".", 1)[-1].isdigit():
        raise ValueError(
            f"outbound allowlist entry {entry!r} is not a hostname, '*.domain', IP or CIDR"
            " (write internationalised names in punycode)"
        )
    return name


def canonical_url(url: str, *, param: str | None = None) -> str:
    """The one spelling of an outbound URL that the gateway checks, stores and connects to,
    whichever field it came in (``webhook.url``, ``request.document.url``,
    ``documents[i].url``).

    First the URL must be a well-formed http(s) URL with a host, a valid port and no
    credentials, as httpx reads it (nothing is repaired: a newline in the host is an
    error, not dropped). Then it is written as browsers parse it (WHATWG, pydantic's URL
    type): scheme and host lower case, an internationalised name in punycode, an IPv4
    address in any spelling (``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``127.0.0.1.``)
    dotted decimal, the default port dropped; and a name loses its trailing dot
    (``localhost.`` is ``localhost``, as the allowlist reads it)."""
    _well_formed(url, param=param)
    try:
        parsed = Url(url)
    except PydanticCoreValidationError:
        raise UrlNotAllowed("the URL is malformed", param=param) from None
    host = parsed.host or ""
    canonical = str(parsed)
    if host.endswith("."):
        # No credentials, so the host follows "://" directly.
        authority = f"{parsed.scheme}://{host}"
        canonical = authority.rstrip(".") + canonical[len(authority) :]
    return canonical


def _well_formed(url: str, *, param: str | None) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise UrlNotAllowed("the URL is malformed", param=param) from None
    if parsed.scheme not in ("http", "https"):
        raise UrlNotAllowed("only http and https URLs are allowed", param=param)
    if parsed.userinfo:
        raise UrlNotAllowed(CREDENTIALS_REFUSED, param=param)
    if not parsed.host:
        raise UrlNotAllowed("the URL has no host", param=param)
    if (parsed.port or 0) > 65535:
        raise UrlNotAllowed("the URL's port is out of range", param=param)


def _target(url: str, *, param: str | None) -> tuple[str, int]:
    """The (host, port) an http(s) URL reaches: its canonical form, parsed as httpx will
    parse it to connect."""
    parsed = httpx.URL(canonical_url(url, param=param))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.raw_host.decode("ascii"), port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _attempt(check: Callable[[], T]) -> T | UrlNotAllowed:
    try:
        return check()
    except UrlNotAllowed as refused:
        return refused


@dataclass(frozen=True)
class OutboundPolicy:
    """Which outbound URLs may be reached: public addresses plus what the operator allowlisted."""

    hosts: frozenset[str] = frozenset()  # exact names, lower case, no trailing dot
    host_suffixes: tuple[str, ...] = ()  # ".example.com" from "*.example.com"
    networks: tuple[IPNetwork, ...] = ()
    resolve: Resolver = system_resolver
    # Exact (host, port) pairs reached whatever their address: the gateway's own storage
    # endpoints, whose presigned URLs documents may name (``allowing_endpoints``).
    endpoints: frozenset[tuple[str, int]] = frozenset()

    def allowing_endpoints(self, urls: Iterable[str]) -> OutboundPolicy:
        """This policy, plus exactly the host and port of each of ``urls`` (a store the
        operator configured, e.g. a local S3): nothing else on those hosts."""
        pairs = {_target(url, param=None) for url in urls}
        return replace(self, endpoints=self.endpoints | frozenset(pairs))

    @classmethod
    def from_allowlist(cls, text: str, resolve: Resolver | None = None) -> OutboundPolicy:
        """Parse ``Settings.outbound_allowlist``; a malformed entry raises ValueError."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for entry in filter(None, (raw.strip() for raw in text.split(","))):
            parsed = _parse_entry(entry)
            if isinstance(parsed, str) and parsed.startswith("*."):
                suffixes.append(parsed[1:])
            elif isinstance(parsed, str):
                hosts.add(parsed)
            else:
                networks.append(parsed)
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks), resolve or system_resolver)

    def check_url(self, url: str, *, param: str) -> list[str]:
        """The addresses ``url`` may be reached at; raises UrlNotAllowed (``param`` = the JSON
        path of the URL field) when it is malformed or any of its addresses is refused."""
        host, port = _target(url, param=param)
        return self.check_host(host, port, param=param)

    async def check_url_async(self, url: str, *, param: str) -> list[str]:
        """``check_url`` with the DNS lookup run off the event loop."""
        return await asyncio.to_thread(self.check_url, url, param=param)

    def check_urls(self, urls: Mapping[str, str]) -> dict[str, list[str]]:
        """Check ``{param: url}``, resolving each distinct host:port once (a few in parallel).
        Raises UrlNotAllowed for the first refused URL in the mapping's order."""
        targets = {
            param: _attempt(partial(_target, url, param=param)) for param, url in urls.items()
        }
        distinct = list(dict.fromkeys(t for t in targets.values() if isinstance(t, tuple)))
        with ThreadPoolExecutor(max_workers=max(1, min(_PARALLEL_LOOKUPS, len(distinct)))) as pool:
            outcomes = pool.map(lambda t: _attempt(partial(self.check_host, *t)), distinct)
            checked = dict(zip(distinct, outcomes, strict=True))
        addresses: dict[str, list[str]] = {}
        for param, target in targets.items():
            outcome = target if isinstance(target, UrlNotAllowed) else checked[target]
            if isinstance(outcome, UrlNotAllowed):
                raise UrlNotAllowed(outcome.message, param=param)
            addresses[param] = outcome
        return addresses

    async def check_urls_async(self, urls: Mapping[str, str]) -> dict[str, list[str]]:
        """``check_urls`` run off the event loop."""
        return await asyncio.to_thread(self.check_urls, urls)

    def check_host(self, host: str, port: int, *, param: str | None = None) -> list[str]:
        """Resolve ``host`` (unless it is an IP) and return its addresses if all may be reached."""
        if (host.lower().rstrip("."), port) in self.endpoints:
            return [host] if _is_ip(host) else self._resolve(host, port, param=param)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [host]
        else:
            addresses = self._resolve(host, port, param=param)
            if self._host_allowed(host):
                return addresses
        for address in addresses:
            ip = ipaddress.ip_address(address)
            kind = None if self._network_allowed(ip) else address_kind(ip)
            if kind is not None:
                if literal is None:
                    # The caller learns only that the name is refused: which internal
                    # address it has (or that it has none) would map the private network.
                    log.info("outbound_host_refused", host=host, address=address, kind=kind)
                    raise UrlNotAllowed(_NOT_PUBLIC.format(host=host), param=param)
                article = "an" if kind[0] in "aeiou" else "a"
                raise UrlNotAllowed(
                    f"{host} is {article} {kind} address; outbound URLs must reach public "
                    "addresses",
                    param=param,
                )
        return addresses

    def _resolve(self, host: str, port: int, *, param: str | None) -> list[str]:
        try:
            addresses = self.resolve(host, port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            log.info("outbound_host_unresolved", host=host)
            raise UrlNotAllowed(_NOT_PUBLIC.format(host=host), param=param)
        return addresses

    def _host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.hosts or name.endswith(tuple(self.host_suffixes))

    def _network_allowed(self, ip: IPAddress) -> bool:
        forms = [form for form in (ip, _embedded_ipv4(ip)) if form is not None]
        return any(form in network for network in self.networks for form in forms)
