"""The client's IP address (contract §1).

The socket peer counts. ``X-Forwarded-For`` is read only when the peer is a trusted proxy
(``CHATR_TRUSTED_PROXIES``); then the right-most address that is not itself a trusted proxy counts,
because everything left of it could have been written by the client.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _clean(address: str) -> str:
    address = address.strip()
    if address.startswith("[") and "]" in address:  # [v6]:port
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:  # v4:port
        address = address.split(":", 1)[0]
    return address


def client_ip(request: HttpRequest) -> str:
    peer = request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 - an address, not a bind
    return client_ip_of(peer, request.META.get("HTTP_X_FORWARDED_FOR", ""))


def client_ip_of(peer: str, forwarded: str) -> str:
    """The client's address given the socket peer and the ``X-Forwarded-For`` header ("" if none)."""
    networks = _networks(tuple(settings.CHATR_TRUSTED_PROXIES))
    if not networks or not _is_trusted(peer, networks):
        return peer
    hops = [_clean(hop) for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from a proxy: fall back to the peer rather than trust it
    return hops[0] if hops else peer


@lru_cache(maxsize=4096)
def limit_subject(address: str) -> str:
    """What a per-IP limit counts (contract §8): an IPv6 client by its /64, since one host usually
    holds a whole /64 and could otherwise be 2^64 clients; an IPv4 address (also one mapped into
    IPv6) as itself. Anything that is not an address is returned unchanged."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
