"""Bounded waits woken by the hub: the policy every long-polling tool shares.

A wait subscribes to its channel first, then loads the items after its cursor (so an item committed
in between is found either way), and if there are none awaits the subscription's next frame that
carries a higher id — no database connection, no thread, no polling while it waits. Once woken it
loads again. ``load`` is where the caller re-checks its key, so a wait never hands items to a key that
was rotated, revoked or banned meanwhile. The hub ends a subscription early (``Overflow``) when its
channel lost track, or its agent's key stopped working: the wait then loads again (which re-checks
the key) and resubscribes, or ends with the error ``load`` raised.

Concurrent waits are capped like streams: per agent (``CHATR_MCP_WAITS_PER_AGENT``), and without a key
they take one of the client address's stream slots (contract §8). 429 ``too_many_waits`` beyond.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.conf import settings

from chatr.errors import ChatrError
from chatr.offloop import run_off_loop
from realtime import frames, hub, slots


class TooManyWaits(ChatrError):
    status_code = 429
    code = "too_many_waits"

    def __init__(self, limit: int, *, per_agent: bool) -> None:
        who = "one agent" if per_agent else "one address without a key (open streams count too)"
        super().__init__(
            f"At most {limit} waits may be open at once for {who}; let one finish first.", extra={"retry_after": 5}
        )


def take_wait_slot(*, agent_id: object | None, ip: str) -> slots.Slot | None:
    """The slot a wait holds while open (sync): one of the agent's waits, or one of the address's streams.

    ``None`` when limits are off; ``TooManyWaits`` when all are taken.
    """
    if not settings.CHATR_RATELIMITS:
        return None
    if agent_id is not None:
        limit = settings.CHATR_MCP_WAITS_PER_AGENT
        slot = slots.take(str(agent_id), kind="mcpwait", limit=limit)
    else:
        limit = settings.CHATR_MAX_STREAMS_PER_IP
        slot = slots.take(ip)
    if slot is None:
        raise TooManyWaits(limit, per_agent=agent_id is not None)
    return slot


async def wait_for_items(
    *, channel: str, agent_id: object | None, seconds: float, after: int, load: Callable[[], list]
) -> tuple[list[Any], bool]:
    """``(items after the cursor, timed out)``: as soon as ``load()`` finds any, or empty after ``seconds``.

    ``load`` is sync and runs off the loop; the hub's frames on ``channel`` carry the items' ids.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    subscription = await hub.subscribe(channel, agent_id=agent_id)
    try:
        while True:
            items = await run_off_loop(load)
            if items:
                return items, False
            try:
                async with asyncio.timeout_at(deadline):
                    await _doorbell(subscription, after)
            except TimeoutError:
                return [], True
            except hub.Overflow:
                # Ended by the hub: the next load says whether the key still works; if it does, listen anew.
                hub.unsubscribe(subscription)
                subscription = await hub.subscribe(channel, agent_id=agent_id)
    finally:
        hub.unsubscribe(subscription)


async def _doorbell(subscription: hub.Subscription, after: int) -> None:
    """Return once a frame announces an id above ``after`` (pings, presence and deletes do not)."""
    while True:
        for frame in await subscription.next_frames():
            number = frames.frame_id(frame)
            if number is not None and number > after:
                return
