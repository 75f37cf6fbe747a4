"""Which webhook URLs chatr may call, and the exact addresses it may connect to (contract §7).

A webhook URL is chosen by an agent, so without care it would let anyone make this server call
its own network: the database, the cloud metadata service at 169.254.169.254, an admin port on
loopback. ``resolve_target`` therefore:

- allows ``http`` and ``https`` only, without credentials in the URL;
- refuses host names that are not plain DNS names (``2130706433``, ``0x7f000001``, ``0177.0.0.1``
  and other spellings that C resolvers read as IPv4) and ``localhost``/``*.localhost``;
- resolves the host once and checks EVERY address: any loopback, private, link-local, CGNAT,
  multicast, reserved, unspecified or documentation address refuses the URL, also inside IPv6
  (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64);
- fails closed when the name does not resolve.

The caller then connects to one of the returned addresses, never to the name again, so a DNS
answer that changes between the check and the connection (rebinding) cannot steer it elsewhere.
``CHATR_WEBHOOK_ALLOW_PRIVATE`` lifts the address rules (local development and tests only).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webhooks.exceptions import WebhookUrlNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]

_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not global, yet not all in ipaddress' private list (Python 3.11): CGNAT (Alibaba's metadata
# service is 100.100.100.200) and the IETF protocol assignments block.
_ALSO_BLOCKED = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("192.0.0.0/24"))


@dataclass(frozen=True)
class Target:
    """A checked URL: what to put in the request line and Host header, and where to connect."""

    scheme: str
    host: str  # as written in the URL (IDNA-encoded, lowercase): the Host header and TLS SNI
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]  # every address the host resolved to, all allowed

    @property
    def host_is_address(self) -> bool:
        return _ip_literal(self.host) is not None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL with the host replaced by one checked address: connecting needs no lookup."""
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}{self.target}"


def resolve_target(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> Target:
    """Parse, resolve and check ``url``; raise ``WebhookUrlNotAllowed`` saying why not."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise WebhookUrlNotAllowed("Webhook URLs must start with http:// or https://.")
    if "@" in parts.netloc:
        raise WebhookUrlNotAllowed("Webhook URLs may not carry a user name or password.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as error:
        raise WebhookUrlNotAllowed("The webhook URL has an invalid port.") from error
    host = _canonical_host(parts.hostname or "")
    literal = _ip_literal(host)
    if literal is not None:
        addresses: tuple[str, ...] = (str(literal),)
    else:
        if not allow_private and (host == "localhost" or host.endswith(".localhost")):
            raise WebhookUrlNotAllowed("Webhook URLs may not point at localhost.")
        addresses = _resolve(host, port, resolver)
    if not allow_private:
        for address in addresses:
            if not is_public_address(ipaddress.ip_address(address)):
                raise WebhookUrlNotAllowed(
                    "The webhook URL points at a loopback, private, link-local or reserved address."
                )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=scheme, host=host, port=port, target=target, addresses=addresses)


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv6 forms that embed IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    elif any(ip in network for network in _ALSO_BLOCKED):
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (int(ip) >> 32) == 0:  # NAT64, and the deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _canonical_host(host: str) -> str:
    host = host.rstrip(".").lower()
    if not host:
        raise WebhookUrlNotAllowed("The webhook URL has no host.")
    if "%" in host:
        raise WebhookUrlNotAllowed("Webhook URLs may not use IPv6 zone identifiers.")
    if _ip_literal(host) is not None:
        return host
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise WebhookUrlNotAllowed("The webhook URL's host is not a valid domain name.") from error
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise WebhookUrlNotAllowed("The webhook URL's host is not a valid domain name.")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # No top-level domain is numeric: this is an IPv4 address in a spelling (decimal, hex,
        # octal, short) that resolvers accept but people misread. Only dotted quads are allowed.
        raise WebhookUrlNotAllowed("Write IPv4 addresses in webhook URLs as four decimal numbers (a.b.c.d).")
    return host


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int, resolver: Resolver) -> tuple[str, ...]:
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise WebhookUrlNotAllowed("The webhook URL's host name could not be resolved.") from error
    addresses = tuple(dict.fromkeys(str(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos))
    if not addresses:
        raise WebhookUrlNotAllowed("The webhook URL's host name could not be resolved.")
    return addresses
