"""Bounded concurrency: how many streams an address, and how many waits an agent, may hold at once.

Each open stream or wait holds one slot key ``chatr:<kind>:<subject>:<n>`` (n < the limit) of the
backend; the next one finds every slot taken. A slot is held for as long as its stream or wait is
open: the backend keeps slots where nothing else evicts them, with a lease that this process renews
for every slot it holds (``renew_held_forever``), so a process that crashes without releasing
anything frees its slots within ``CHATR_STREAM_SLOT_SECONDS``. A plain counter cannot recover like
that: a decrement lost in a crash stays lost forever, and an expiry on the whole counter would also
forget the streams that are still open.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import dataclass

from django.conf import settings

from chatr.client_ip import limit_subject
from chatr.errors import is_outage
from chatr.offloop import run_off_loop
from realtime import backends

logger = logging.getLogger("chatr.hub")

STREAM = "stream"


@dataclass(frozen=True)
class Slot:
    key: str
    token: str


_held: set[Slot] = set()
_held_lock = threading.Lock()


def _keys(subject: str, *, kind: str, limit: int) -> list[str]:
    return [f"chatr:{kind}:{subject}:{number}" for number in range(limit)]


def take(subject: str, *, kind: str = STREAM, limit: int | None = None) -> Slot | None:
    """A free slot of ``subject`` (sync), or ``None`` when all ``limit`` are taken.

    Streams count per client address (an IPv6 client by its /64, contract §8); other bounded waits
    name their own ``kind`` and subject (MCP's: per agent).
    """
    if kind == STREAM:
        subject = limit_subject(subject)
    limit = settings.CHATR_MAX_STREAMS_PER_IP if limit is None else limit
    token = uuid.uuid4().hex
    key = backends.current().take_slot(
        _keys(subject, kind=kind, limit=limit), token, seconds=settings.CHATR_STREAM_SLOT_SECONDS
    )
    if key is None:
        return None
    slot = Slot(key, token)
    with _held_lock:
        _held.add(slot)
    return slot


def release(slot: Slot) -> None:
    """Give ``slot`` back (sync); if the store is unreachable its lease frees it later."""
    with _held_lock:
        _held.discard(slot)
    try:
        backends.current().release_slot(slot.key, slot.token)
    except Exception as error:
        if not is_outage(error):
            raise
        logger.warning("could not give back a slot (its lease frees it): %s", error)


def count(subject: str) -> int:
    """How many streams ``subject`` (a client address) holds open now."""
    keys = _keys(limit_subject(subject), kind=STREAM, limit=settings.CHATR_MAX_STREAMS_PER_IP)
    return backends.current().count_slots(keys)


def renew_held() -> None:
    """Extend the lease of every slot this process holds (sync).

    The store takes back a held slot whose lease ran out, so the renewal keeps the lock while it calls the store:
    ``release`` forgets a slot under the same lock before it gives it back, and a slot given back between the
    renewal's reading of ``_held`` and its call would otherwise be taken again for a whole lease. ``take`` and
    ``release`` wait for one store round trip at most, every third of a lease.
    """
    with _held_lock:
        held = {slot.key: slot.token for slot in _held}
        backends.current().renew_slots(held, seconds=settings.CHATR_STREAM_SLOT_SECONDS)


async def renew_held_forever() -> None:
    """Renew this process's slots three times per lease, for the life of the event loop."""
    while True:
        await asyncio.sleep(settings.CHATR_STREAM_SLOT_SECONDS / 3)
        try:
            await run_off_loop(renew_held)
        except Exception as error:
            if not is_outage(error):
                logger.exception("renewing the slots failed")
            else:
                logger.warning("renewing the slots failed: the store is away: %s", error)
