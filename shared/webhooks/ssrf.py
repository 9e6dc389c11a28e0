"""The SSRF guard: which webhook URLs PayLink will call, and at which address.

Receiver URLs are chosen by clients, so they are hostile: a URL naming `localhost`, a cloud
metadata address, or a hostname that resolves into the private network would let a client
make PayLink's workers probe the inside. Outside development (`webhook_allow_private`) only
`https` URLs without credentials are accepted, and only when every address the name resolves
to is public. The check runs at registration and again at every delivery, and the delivery
connects to the address that was checked (`pin`), so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST = r"[A-Za-z0-9._~-]+"


def url_pattern(allow_private: bool) -> str:
    """Return the form a webhook URL must have (the API document states it)."""
    scheme = "https?" if allow_private else "https"
    return rf"^{scheme}://{_HOST}(?::{_PORT})?(?:[/?#][!-~]*)?$"


# Everything in IANA's special-purpose registries that is not globally reachable, listed
# explicitly so the answer does not depend on the Python version's `ipaddress` tables.
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", including 0.0.0.0
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, where cloud metadata services live
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including 255.255.255.255
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, including Teredo
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # old site-local
        "ff00::/8",  # multicast
    )
)
# IPv6 forms that carry an IPv4 address the packet really goes to.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class UnsafeURL(ValueError):
    """A webhook URL PayLink refuses to call; the message says why (safe to show the client)."""


@dataclass(frozen=True)
class Target:
    """Where one request goes: the checked address, and the name TLS and Host must carry."""

    scheme: str
    hostname: str
    port: int
    ip: str

    @property
    def host_header(self) -> str:
        """Return the Host header value for this target."""
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 one stands for (mapped, compatible, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _V4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Return whether an address is globally reachable, the only kind a webhook may target."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
        address = address.__class__(int(address))  # drop any %scope
        blocked: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = _BLOCKED_V6
    else:
        blocked = _BLOCKED_V4
    if any(address in network for network in blocked):
        return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve a hostname to its addresses with the operating system's resolver."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UnsafeURL(f"the host {host!r} does not resolve") from e
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, *, allow_private: bool) -> SplitResult:
    """Check a URL's form: scheme, host, port, no credentials; return its parts."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeURL("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UnsafeURL("is not a valid URL") from e
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeURL("must use " + " or ".join(schemes))
    if "@" in parts.netloc:
        raise UnsafeURL("must not contain credentials")
    if not parts.hostname:
        raise UnsafeURL("must name a host")
    if port == 0:
        raise UnsafeURL("must not use port 0")
    return parts


def pin(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """Check a URL and resolve it once; return the address the request must connect to."""
    parts = check_url(url, allow_private=allow_private)
    hostname = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = (resolver or system_resolver)(hostname, port)
    if not addresses:
        raise UnsafeURL(f"the host {hostname!r} does not resolve")
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address)):
                raise UnsafeURL(f"the host {hostname!r} resolves to a non-public address")
    return Target(scheme=parts.scheme, hostname=hostname, port=port, ip=addresses[0])


def check_endpoint_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> str:
    """Refuse a URL at registration unless PayLink would call it; return it unchanged."""
    if allow_private:
        # Development may name hosts that are not up yet; only the form is checked.
        check_url(url, allow_private=True)
    else:
        pin(url, allow_private=False, resolver=resolver)
    # Last, so the checks above name the problem; this is the form the API document states.
    if re.match(url_pattern(allow_private), url) is None:
        raise UnsafeURL(
            "must be scheme://host[:port][/path] in printable ASCII (a name, not [IPv6])"
        )
    return url
