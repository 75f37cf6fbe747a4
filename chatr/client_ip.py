"""The client's IP address (contract §1, §8): one rule for every path.

The socket peer counts. ``X-Forwarded-For`` is read only when the peer is a trusted proxy
(``CHATR_TRUSTED_PROXIES``); then the right-most address that is not itself a trusted proxy counts,
because everything left of it could have been written by the client.

A request may carry several ``X-Forwarded-For`` lines: the client's own, then one a proxy appended
(HAProxy's ``option forwardfor`` adds a line instead of extending the last). They are one list, joined
in order (RFC 7230 §3.2.2), so the line a proxy appended is always the right-most part and the lines a
client wrote never are. Cached answers, streams, MCP and Django views all read the address through
``client_ip_of_scope`` (the ASGI scope, where every line is still separate) or ``client_ip``
(a Django request, which finds its scope), never a header of their own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.http import HttpRequest

from chatr import request_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


_NO_PEER = "0.0.0.0"  # noqa: S104 - an address, not a bind
_FORWARDED_FOR = b"x-forwarded-for"


def client_ip(request: HttpRequest) -> str:
    """The client's address of a Django request.

    Read from the request's ASGI scope (``request.scope``, which the request pipeline's Django requests
    carry), so that the same header lines count as for cached answers and MCP;
    only a request that never was ASGI (a WSGI server, a test's request factory) falls back to
    ``META``, where the server has already joined repeated lines.
    """
    scope = getattr(request, "scope", None) or request.META.get("asgi.scope")
    if scope is not None:
        return client_ip_of_scope(scope)
    peer = request.META.get("REMOTE_ADDR") or _NO_PEER
    return client_ip_of(peer, request.META.get("HTTP_X_FORWARDED_FOR", ""))


def client_ip_of_scope(scope: Mapping[str, Any]) -> str:
    """The client's address of an ASGI request: its peer and every ``X-Forwarded-For`` line, in order."""
    client = scope.get("client")
    peer = client[0] if client else _NO_PEER
    if not request_settings.current().trusted_proxies:
        return peer  # no proxy is trusted: no X-Forwarded-For line counts
    return client_ip_of(peer, forwarded_for(scope.get("headers", ())))


def forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """Every ``X-Forwarded-For`` line of ASGI ``headers`` joined with commas, in the order received.

    Only that exact name counts: ``X_Forwarded_For`` is another header (Django drops such names; a
    WSGI environ would merge them into ``HTTP_X_FORWARDED_FOR``).
    """
    return ",".join(value.decode("latin-1") for name, value in headers if name == _FORWARDED_FOR)


def client_ip_of(peer: str, forwarded: str) -> str:
    """The client's address given the socket peer and the ``X-Forwarded-For`` header ("" if none)."""
    networks = request_settings.current().trusted_proxies
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
