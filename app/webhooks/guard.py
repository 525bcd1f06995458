"""Outbound-address guard: an outbound URL may only reach public addresses unless the allow-list names it.

Checked twice: when a URL is submitted (static checks and a first resolution) and when it is called (resolved
again; the request then goes to the checked address itself, so a DNS answer that changes in between — DNS
rebinding — cannot swap in an internal one).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Legacy numeric host forms that resolvers accept but that hide the address: 2130706433, 0x7f.1, 0177.0.0.1.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeUrl(ValueError):
    """The URL may not be called; the message says why (for the submitter and the server log)."""


@dataclass(frozen=True, slots=True)
class AllowList:
    """Hosts (exact names) and networks (CIDRs or single addresses) outbound calls may reach anyway.

    `http`: whether plain http:// URLs may be called at all (setting `allow_http_callbacks`).
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    http: bool = True

    @classmethod
    def parse(cls, value: str, *, allow_http: bool = True) -> AllowList:
        """From a comma-separated setting: `hooks.internal, 10.0.0.0/8, 127.0.0.1`."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in value.split(","):
            item = raw.strip().lower().rstrip(".")
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.add(item)
        return cls(frozenset(hosts), tuple(networks), allow_http)

    def names(self, host: str) -> bool:
        """True if the host name itself is allow-listed."""
        return host.lower().rstrip(".") in self.hosts

    def covers(self, address: IPAddress) -> bool:
        """True if the address lies in an allow-listed network."""
        return any(address.version == net.version and address in net for net in self.networks)


def non_public_reason(address: IPAddress) -> str | None:
    """Why an address is not a public unicast one (None if it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if address in _NAT64:
            return "a NAT64 address"
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and non_public_reason(embedded) is not None:
            return "an IPv6 address embedding a non-public IPv4 address"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return f"a {name} address"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: its parts and the addresses it may be called on."""

    parts: SplitResult
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def check_static(url: str, allow: AllowList) -> tuple[SplitResult, str, int]:
    """Checks that need no DNS: scheme (http only if allowed), no user-info, a host, no numeric host forms, literal addresses."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise UnsafeUrl("only http and https URLs are allowed")
    if parts.scheme == "http" and not allow.http:
        # Callbacks carry conversation ids, scores and flags: not in clear text unless a setting says so.
        raise UnsafeUrl("plain http:// is refused; use https:// (or set AUDIT_ALLOW_HTTP_CALLBACKS=true)")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials (user:password@) are not allowed in the URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("the URL has no host")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise UnsafeUrl("the URL has an invalid port") from exc
    literal = _literal_address(host)
    if literal is None and _NUMERIC_HOST.match(host):
        raise UnsafeUrl("numeric host forms (decimal, octal, hex) are not allowed; write the address out")
    if literal is not None and not allow.covers(literal):
        reason = non_public_reason(literal)
        if reason is not None:
            raise UnsafeUrl(f"the host is {reason}")
    return parts, host, port


def check_url(url: str, allow: AllowList, *, must_resolve: bool = True) -> Target:
    """Full check: static checks, then every address the host resolves to must be public or allow-listed.

    With `must_resolve=False` (at submit time) a host that does not resolve yet passes; the send-time check
    resolves again and refuses it then.
    """
    parts, host, port = check_static(url, allow)
    literal = _literal_address(host)
    addresses = (literal,) if literal is not None else resolve(host, port)
    if not addresses and must_resolve:
        raise UnsafeUrl("the host does not resolve")
    if not allow.names(host):
        for address in addresses:
            if allow.covers(address):
                continue
            reason = non_public_reason(address)
            if reason is not None:
                raise UnsafeUrl(f"the host resolves to {reason}")
    return Target(parts, host, port, addresses)


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """All addresses of `host` (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return ()
    seen: dict[IPAddress, None] = {}
    for info in infos:
        seen[ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])] = None
    return tuple(seen)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
