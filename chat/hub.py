"""The per-process fan-out of stream events. Only services publish, and only after commit.

Channels: ``room:<room id>`` (the lobby is ``room:lobby``) and ``inbox:<agent id>``.

An event is encoded once to the bytes of its SSE frame (``chat.events.encode``) and the same bytes
are handed to every viewer of its channel in this process: one bounded queue per viewer. A viewer
whose queue is full is closed, never waited for; it comes back with ``Last-Event-ID`` and the
database replays what it missed.

With ``REDIS_URL`` each frame is published once on the channel layer (Redis pub/sub); each process
subscribes once per channel its viewers watch and fans out locally. A process receives its own
frames that way too, so all frames of a channel take one path. Without ``REDIS_URL`` there is one
process and frames go straight from the publishing thread into the event loop: the in-memory
channel layer is never used (it copies per recipient and silently drops past 100 queued messages).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections import deque
from collections.abc import Coroutine, Iterator
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from chat import events

logger = logging.getLogger("chatr.hub")

_GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,90}$")


def room_channel(room_id: str) -> str:
    return f"room:{room_id}"


def inbox_channel(agent_id: object) -> str:
    return f"inbox:{agent_id}"


class Overflow(Exception):
    """The viewer fell behind by a whole queue: its stream ends and it resumes with Last-Event-ID."""


class Subscription:
    """One viewer's bounded queue of encoded frames. Lives in the event loop's thread."""

    __slots__ = ("_frames", "_limit", "_task", "_waiter", "channel", "last_offer", "overflowed", "wants_stats")

    def __init__(self, channel: str, *, limit: int, wants_stats: bool, now: float) -> None:
        self.channel = channel
        self.wants_stats = wants_stats
        self.overflowed = False
        self.last_offer = now
        self._frames: deque[bytes] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self._task = asyncio.current_task()  # the task that writes this viewer's response

    def offer(self, frame: bytes, now: float) -> None:
        if self.overflowed:
            return
        waiter = self._waiter
        if len(self._frames) >= self._limit:
            self.overflowed = True
            self._frames.clear()  # nothing more will be sent: let the memory go at once
            if waiter is None and self._task is not None:
                # Not waiting for frames means stuck writing to a client that does not read (the
                # server pushes back once the socket's buffers are full): end it there.
                self._task.cancel()
        else:
            self._frames.append(frame)
            self.last_offer = now
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_frames(self) -> list[bytes]:
        """Every frame queued so far (at least one), oldest first; ``Overflow`` once it fell behind."""
        while not self._frames and not self.overflowed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.overflowed:
            raise Overflow()
        frames = list(self._frames)
        self._frames.clear()
        return frames


class Hub:
    """The fan-out state of one process, bound to the event loop that serves its viewers."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.channels: dict[str, set[Subscription]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._remote: Remote | None = None

    # --- called in the event loop ------------------------------------------------------------
    async def subscribe(self, channel: str, *, wants_stats: bool = False) -> Subscription:
        """A new queue that receives every frame published on ``channel`` from now on."""
        loop = asyncio.get_running_loop()
        self._bind(loop)
        subscription = Subscription(
            channel, limit=settings.CHATR_STREAM_QUEUE_FRAMES, wants_stats=wants_stats, now=loop.time()
        )
        self.channels.setdefault(channel, set()).add(subscription)
        if self._remote is not None:
            try:
                await self._remote.sync(channel)
            except BaseException:
                self.unsubscribe(subscription)
                raise
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        members = self.channels.get(subscription.channel)
        if members is None:
            return
        members.discard(subscription)
        if not members:
            del self.channels[subscription.channel]
            if self._remote is not None:
                self.spawn(self._remote.sync(subscription.channel))

    def fan_out(self, channel: str, frame: bytes) -> None:
        members = self.channels.get(channel)
        if not members:
            return
        now = self.loop.time() if self.loop is not None else 0.0
        for subscription in members:
            subscription.offer(frame, now)

    def subscriptions(self) -> Iterator[Subscription]:
        for members in list(self.channels.values()):
            yield from list(members)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run ``coroutine`` to its end even if whoever started it is cancelled."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def subscriber_count(self) -> int:
        return sum(len(members) for members in self.channels.values())

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.loop is loop:
            return
        # A new event loop (a new server, or a test's own loop): nothing of the old one survives.
        self.loop = loop
        self.channels = {}
        self._tasks = set()
        self._remote = Remote(self) if settings.REDIS_URL else None

    # --- called from any thread ----------------------------------------------------------------
    def deliver(self, channel: str, frame: bytes) -> None:
        loop = self.loop
        # Reading the dict from another thread is safe under the GIL; a viewer subscribing right
        # now loads its history after subscribing, so a frame skipped here is in that history.
        if loop is None or loop.is_closed() or channel not in self.channels:
            return
        if running_loop() is loop:
            self.fan_out(channel, frame)
        else:
            loop.call_soon_threadsafe(self.fan_out, channel, frame)


class Remote:
    """This process's link to the others: one channel-layer subscription per watched channel."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.subscribed: set[str] = set()
        self._lock = asyncio.Lock()
        self._inbox: str | None = None
        self._barriers: dict[str, asyncio.Future[None]] = {}

    async def sync(self, channel: str) -> None:
        """Subscribe or unsubscribe ``channel`` so it matches whether local viewers watch it."""
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        async with self._lock:  # add and discard of one channel never interleave
            wanted = channel in self.hub.channels
            if wanted == (channel in self.subscribed):
                return
            if self._inbox is None:
                self._inbox = await layer.new_channel("chatr.hub.")
                self.hub.spawn(self._receive(layer, self._inbox))
            if wanted:
                await layer.group_add(group_name(channel), self._inbox)
                await self._barrier(layer, channel)
                self.subscribed.add(channel)
            else:
                self.subscribed.discard(channel)
                await layer.group_discard(group_name(channel), self._inbox)

    async def _barrier(self, layer: Any, channel: str) -> None:
        # SUBSCRIBE is written but not acknowledged: wait until our own marker comes back, so every
        # frame published after subscribe() returns is sure to reach this process.
        token = uuid.uuid4().hex
        arrived = asyncio.get_running_loop().create_future()
        self._barriers[token] = arrived
        try:
            await layer.group_send(group_name(channel), {"type": "chatr.barrier", "token": token})
            await asyncio.wait_for(arrived, timeout=10)
        finally:
            self._barriers.pop(token, None)

    async def _receive(self, layer: Any, inbox: str) -> None:
        while True:
            try:
                message = await layer.receive(inbox)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("channel layer receive failed; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") == "chatr.frame":
                self.hub.fan_out(message["channel"], message["frame"])
            elif message.get("type") == "chatr.barrier":
                arrived = self._barriers.get(message["token"])
                if arrived is not None and not arrived.done():
                    arrived.set_result(None)


def group_name(channel: str) -> str:
    """The channel layer's group for a hub channel (layer group names allow only ``[A-Za-z0-9_.-]``)."""
    name = "chatr." + channel.replace(":", ".")
    if _GROUP_NAME.match(name):
        return name
    return "chatr.h." + hashlib.blake2s(channel.encode()).hexdigest()


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_hub = Hub()


def publish_on_commit(channel: str, event: dict[str, Any]) -> None:
    """Send ``event`` to every stream on ``channel`` once the current transaction commits."""
    transaction.on_commit(lambda: publish(channel, event))


def publish(channel: str, event: dict[str, Any]) -> None:
    """Encode ``event`` once and deliver it: through Redis to every process, or straight to this one.

    The message is already committed when this runs, so a failure here is logged, not raised: the
    viewers that missed the frame get the message from the database when they resume.
    """
    frame = events.encode(event)
    if not settings.REDIS_URL:
        _hub.deliver(channel, frame)
        return
    try:
        _send_remote(channel, frame)
    except Exception:
        logger.exception("publishing to %s failed", channel)


def _send_remote(channel: str, frame: bytes) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    message = {"type": "chatr.frame", "channel": channel, "frame": frame}
    if running_loop() is not None:  # publishing from async code: no thread to block
        _hub.spawn(layer.group_send(group_name(channel), message))
        return
    # From a sync thread: async_to_sync runs the send on the server's event loop when there is
    # one (the layer's connection lives there) and waits for Redis to take it.
    async_to_sync(layer.group_send)(group_name(channel), message)


async def subscribe(channel: str, *, wants_stats: bool = False) -> Subscription:
    return await _hub.subscribe(channel, wants_stats=wants_stats)


def unsubscribe(subscription: Subscription) -> None:
    _hub.unsubscribe(subscription)


def subscriptions() -> Iterator[Subscription]:
    return _hub.subscriptions()


def spawn(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task:
    return _hub.spawn(coroutine)


def subscriber_count() -> int:
    return _hub.subscriber_count()


def channel_count() -> int:
    return len(_hub.channels)
