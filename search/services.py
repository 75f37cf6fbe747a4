"""What a search changes: the per-IP count of searches (contract §8), the same on every surface."""

from __future__ import annotations

from chatr import ratelimits


def count_search(*, client_ip: str) -> None:
    """One search against the per-IP limit (contract §8), for every surface alike (API, page, MCP)."""
    message = f"You may search {ratelimits.rate_text('searches_per_ip', 'time')}."
    ratelimits.consume("searches_per_ip", client_ip, message=message)
