"""Open streams per client IP (contract §8: 10 at once), counted in the shared cache.

Each open stream holds one of its IP's slot keys ``chatr:stream:<ip>:<n>`` (n < the limit), taken
with the cache's atomic ``add``; the 11th finds every slot taken. Slots carry a TTL that the
stream's process refreshes while the stream lives, so a process that crashes without releasing
anything frees its slots within ``CHATR_STREAM_SLOT_SECONDS``. A plain counter cannot recover like
that: a decrement lost in a crash stays lost forever, and an expiry on the whole counter would also
forget the streams that are still open. The cache is local memory by default and Redis with
``REDIS_URL``, so the limit holds across processes.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache

from chatr.client_ip import limit_subject


def _key(ip: str, slot: int, kind: str = "stream") -> str:
    return f"chatr:{kind}:{limit_subject(ip)}:{slot}"  # an IPv6 client counts by its /64 (§8)


def take(
    ip: str, *, kind: str = "stream", limit: int | None = None, seconds: float | None = None
) -> tuple[str, str] | None:
    """A free slot of ``ip`` as ``(key, token)``, or ``None`` when all are taken.

    ``kind``, ``limit`` and ``seconds`` let other bounded waits (MCP's, per agent) count the same way.
    """
    token = uuid.uuid4().hex
    limit = settings.CHATR_MAX_STREAMS_PER_IP if limit is None else limit
    timeout = settings.CHATR_STREAM_SLOT_SECONDS if seconds is None else seconds
    held = cache.get_many([_key(ip, slot, kind) for slot in range(limit)])
    for slot in range(limit):
        key = _key(ip, slot, kind)
        if key not in held and cache.add(key, token, timeout=timeout):
            return key, token
    return None


def release(key: str, token: str) -> None:
    if cache.get(key) == token:
        cache.delete(key)


def refresh(slots: dict[str, str]) -> None:
    """Extend the life of slots that are still in use (``key -> token``)."""
    if slots:
        cache.set_many(slots, timeout=settings.CHATR_STREAM_SLOT_SECONDS)


def count(ip: str) -> int:
    return len(cache.get_many([_key(ip, slot) for slot in range(settings.CHATR_MAX_STREAMS_PER_IP)]))
