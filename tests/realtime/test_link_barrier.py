"""The Redis link's subscribe barrier never swallows its caller's cancellation.

A stream subscribes through the link (``ChannelLayerLink.sync``), which waits for its own marker to come back
through Redis. When the client leaves just as the marker arrives, the stream's task is cancelled in the same
turn: Python 3.11's ``asyncio.wait_for`` then returned the marker instead of raising, and the stream went on
to serve a closed connection for ever, holding its per-address slot (the test below fails with it).
"""

from __future__ import annotations

import asyncio

import pytest

from realtime.backends.redis import ChannelLayerLink
from tests.loops import run


async def _sent(target: str, message: dict) -> None:
    return None  # the marker is on its way; the test says when it comes back


def test_a_cancel_in_the_turn_the_marker_arrives_still_cancels():
    async def scenario() -> None:
        link = ChannelLayerLink(hub=None)  # type: ignore[arg-type]  # the barrier does not touch the hub
        barrier = asyncio.ensure_future(link._barrier(None, "room.lobby", send=_sent, timeout=5))
        for _ in range(3):
            await asyncio.sleep(0)  # the marker is sent; the barrier waits for it
        (arrived,) = link._barriers.values()
        arrived.set_result(None)  # the marker is back ...
        barrier.cancel()  # ... in the turn the client leaves
        with pytest.raises(asyncio.CancelledError):
            await barrier
        assert link._barriers == {}

    run(scenario())


def test_a_marker_that_never_comes_back_times_out():
    async def scenario() -> None:
        link = ChannelLayerLink(hub=None)  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            await link._barrier(None, "room.lobby", send=_sent, timeout=0.05)
        assert link._barriers == {}

    run(scenario())
