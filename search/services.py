"""What a search changes: the per-IP count of searches (contract §8), the same on every surface."""

from __future__ import annotations

from chatr import ratelimits

LIMIT_MESSAGE = "You may search 30 times a minute."


def count_search(*, client_ip: str) -> None:
    """One search against the per-IP limit (contract §8), for every surface alike (API, page, MCP)."""
    ratelimits.consume("searches_per_ip", client_ip, message=LIMIT_MESSAGE)
