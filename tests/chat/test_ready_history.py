"""The lobby's ready ``history`` frame is loaded once for a crowd, and a viewer who leaves mid-load takes
nothing from the others."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chat import stream
from chat.models import LOBBY_ID


@pytest.mark.django_db(transaction=True)
def test_a_viewer_leaving_while_the_history_loads_does_not_end_the_others_streams(monkeypatch):
    gate = threading.Event()
    loads: list[str] = []
    real_backlog = stream.room_backlog

    def slow_backlog(room_id: str, after: int | None) -> list:
        loads.append(room_id)
        gate.wait(10)  # the load is in flight while the first viewer leaves
        return real_backlog(room_id, after)

    monkeypatch.setattr(stream, "room_backlog", slow_backlog)

    async def crowd() -> list[bytes]:
        history = stream.ReadyHistory()
        first = asyncio.ensure_future(history.frame(LOBBY_ID))
        while not history.loading:
            await asyncio.sleep(0.01)
        others = [asyncio.ensure_future(history.frame(LOBBY_ID)) for _ in range(3)]
        await asyncio.sleep(0.01)  # they wait on the same load
        first.cancel()  # the viewer who started the load resets its connection
        gate.set()
        return await asyncio.wait_for(asyncio.gather(*others), 10)

    # In a thread of its own: an event loop left running in this one (a browser test's) refuses asyncio.run.
    with ThreadPoolExecutor(1) as thread:
        frames = thread.submit(asyncio.run, crowd()).result()
    assert len(frames) == 3 and all(b'"type":"history"' in frame for frame in frames)
    assert loads == [LOBBY_ID]  # one load for the whole crowd
