"""The per-process fan-out of stream events. Only services publish, and only after commit.

Channels: ``room:<room id>`` (the lobby is ``room:lobby``) and ``inbox:<agent id>``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.db import transaction

_lock = threading.Lock()
_subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = {}


def room_channel(room_id: str) -> str:
    return f"room:{room_id}"


def inbox_channel(agent_id: object) -> str:
    return f"inbox:{agent_id}"


def publish_on_commit(channel: str, event: dict[str, Any]) -> None:
    """Send ``event`` to every stream on ``channel`` once the current transaction commits."""
    transaction.on_commit(lambda: publish(channel, event))


def publish(channel: str, event: dict[str, Any]) -> None:
    """Deliver to this process's subscribers.

    Issue #3 grows this into the full hub: bounded queues, one serialization per event, and the
    channel layer between processes.
    """
    with _lock:
        targets = list(_subscribers.get(channel, ()))
    for loop, queue in targets:
        loop.call_soon_threadsafe(queue.put_nowait, event)


def subscribe(channel: str) -> asyncio.Queue:
    queue: asyncio.Queue = asyncio.Queue()
    with _lock:
        _subscribers.setdefault(channel, set()).add((asyncio.get_running_loop(), queue))
    return queue


def unsubscribe(channel: str, queue: asyncio.Queue) -> None:
    with _lock:
        members = _subscribers.get(channel, set())
        members.difference_update({member for member in members if member[1] is queue})
        if not members:
            _subscribers.pop(channel, None)
