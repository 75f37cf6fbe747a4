"""Several processes sharing one Redis: frames on pub/sub, versions and slots as Redis keys.

Frames: each frame is published once on the channel layer (``RedisPubSubChannelLayer``); each process
subscribes once per channel its viewers watch (``ChannelLayerLink``) and fans out locally. A process
receives its own frames that way too, so all frames of a channel take one path.

A writer's commit (``announce``) bumps its versions and publishes its frames, one message per channel holding
them all in order, in one pipelined trip from the writer's thread on the same channel-layer channels, instead of
one trip to the event loop and Redis per frame plus one per bump.

Versions: ``SET`` of a fresh random token per bump, so a restarted Redis can never bring an old
version back; read in one ``MGET``.

Slots: ``SET NX PX`` keys with a lease the holder's process renews while the stream or wait is open,
so a process that crashes without releasing anything frees its slots when their leases run out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from realtime import frames
from realtime.backends.base import Announced, Backend, Hub, Version

logger = logging.getLogger("chatr.hub")

VERSION_PREFIX = "chatr:v:"
CONTROL_GROUP = "chatr.control"
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,90}$")

# Frees a slot only for the token that holds it.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Renews each slot its token still holds, and takes back one whose lease ran out meanwhile.
_RENEW = """
for index, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == false or holder == ARGV[index + 1] then
    redis.call('SET', key, ARGV[index + 1], 'PX', ARGV[1])
  end
end
return 0
"""


def group_name(channel: str) -> str:
    """The channel layer's group for a hub channel (layer group names allow only ``[A-Za-z0-9_.-]``)."""
    name = "chatr." + channel.replace(":", ".")
    if _GROUP_NAME.match(name):
        return name
    return "chatr.h." + hashlib.blake2s(channel.encode()).hexdigest()


class RedisBackend(Backend):
    def __init__(self) -> None:
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._async_clients: dict[int, Any] = {}

    # --- frames -------------------------------------------------------------------------------
    def publish_frame(self, hub: Hub, channel: str, frame: bytes, after: int | None = None) -> None:
        """The message is already committed: a failure here is logged, not raised. The viewers that
        missed the frame get the message from the database with the channel's next frame, or when
        they resume."""
        try:
            message = {"type": "chatr.frame", "channel": channel, "frame": frame, "after": after}
            self._send_to_group(hub, group_name(channel), message)
        except Exception:
            logger.exception("publishing to %s failed", channel)

    def end_agent(self, hub: Hub, agent_id: str) -> None:
        try:
            self._send_to_group(hub, CONTROL_GROUP, {"type": "chatr.end_agent", "agent": agent_id})
        except Exception:
            logger.exception("could not tell the other processes to end %s's streams", agent_id)

    def link(self, hub: Hub) -> ChannelLayerLink:
        return ChannelLayerLink(hub)

    def _send_to_group(self, hub: Hub, group: str, message: dict[str, Any]) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if _running_loop() is not None:  # publishing from async code: no thread to block
            hub.spawn(layer.group_send(group, message))
            return
        loop = hub.loop
        if loop is not None and loop.is_running():
            # From a request thread of the server: send on the server's loop, where the layer's
            # connection lives, and wait until Redis has it.
            sent = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            sent.result(timeout=settings.CHATR_REDIS_TIMEOUT_SECONDS + 1)
            return
        # Outside a server (a management command): a loop of its own for this send.
        async_to_sync(layer.group_send)(group, message)

    def announce(self, hub: Hub, scopes: Sequence[str], events: Sequence[Announced]) -> None:
        """The bump first, then each channel's frames as one message, in one pipeline on this thread's client.

        Raises, as ``bump`` does, when the trip fails. Falls back to one call per piece on the event loop (nothing
        may block there) or when the channel layer is not the pub/sub layer on this Redis.
        """
        target = _pubsub_target()
        if target is None or _running_loop() is not None:
            super().announce(hub, scopes, events)
            return
        layer, prefix = target
        by_channel: dict[str, list[list[Any]]] = {}
        for channel, event, after in events:
            by_channel.setdefault(channel, []).append([frames.encode(event), after])
        pipeline = self._redis().pipeline(transaction=False)
        if scopes:
            token = secrets.token_hex(8)
            pipeline.mset({VERSION_PREFIX + scope: token for scope in scopes})
        for channel, batch in by_channel.items():
            message = {"type": "chatr.frames", "channel": channel, "frames": batch}
            pipeline.publish(f"{prefix}__group__{group_name(channel)}", layer.serialize(message))
        pipeline.execute()

    # --- versions -----------------------------------------------------------------------------
    def bump(self, scopes: Sequence[str]) -> None:
        token = secrets.token_hex(8)
        self._redis().mset({VERSION_PREFIX + scope: token for scope in scopes})

    def versions(self, scopes: Sequence[str]) -> Version:
        client = self._redis()
        values = client.mget([VERSION_PREFIX + scope for scope in scopes])
        if None in values:
            # A scope never bumped (or a Redis that restarted empty) gets a token of its own; NX keeps a
            # concurrent bump's token if it came first.
            for scope, value in zip(scopes, values, strict=True):
                if value is None:
                    client.set(VERSION_PREFIX + scope, secrets.token_hex(8), nx=True)
            values = client.mget([VERSION_PREFIX + scope for scope in scopes])
        return tuple(values)

    async def aversions(self, scopes: Sequence[str]) -> Version:
        client = self._aredis()
        values = await client.mget([VERSION_PREFIX + scope for scope in scopes])
        if None in values:
            for scope, value in zip(scopes, values, strict=True):
                if value is None:
                    await client.set(VERSION_PREFIX + scope, secrets.token_hex(8), nx=True)
            values = await client.mget([VERSION_PREFIX + scope for scope in scopes])
        return tuple(values)

    # --- slots --------------------------------------------------------------------------------
    def take_slot(self, keys: Sequence[str], token: str, *, seconds: float) -> str | None:
        client = self._redis()
        held = client.mget(list(keys))
        for key, holder in zip(keys, held, strict=True):
            if holder is None and client.set(key, token, nx=True, px=_milliseconds(seconds)):
                return key
        return None

    def release_slot(self, key: str, token: str) -> None:
        self._redis().eval(_RELEASE, 1, key, token)

    def renew_slots(self, held: dict[str, str], *, seconds: float) -> None:
        if held:
            self._redis().eval(_RENEW, len(held), *held.keys(), _milliseconds(seconds), *held.values())

    def count_slots(self, keys: Sequence[str]) -> int:
        return sum(1 for holder in self._redis().mget(list(keys)) if holder is not None)

    # --- clients ------------------------------------------------------------------------------
    def _redis(self) -> Any:
        if self._client is None:
            import redis

            with self._client_lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(
                        settings.REDIS_URL,
                        socket_connect_timeout=settings.CHATR_REDIS_TIMEOUT_SECONDS,
                        socket_timeout=settings.CHATR_REDIS_TIMEOUT_SECONDS,
                    )
        return self._client

    def _aredis(self) -> Any:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._async_clients.get(id(loop))
        if client is None:
            client = self._async_clients[id(loop)] = redis.asyncio.Redis.from_url(
                settings.REDIS_URL,
                socket_connect_timeout=settings.CHATR_REDIS_TIMEOUT_SECONDS,
                socket_timeout=settings.CHATR_REDIS_TIMEOUT_SECONDS,
            )
        return client


def _pubsub_target() -> tuple[Any, str] | None:
    """The channel layer and its channel prefix when it is channels_redis's pub/sub layer on ``REDIS_URL`` alone.

    Then a group's messages travel on the Redis channel ``<prefix>__group__<group>`` (channels_redis names them so;
    tests/scale/test_load_ordering.py holds a writer's frames to reach the other process's readers), and this backend's
    own client may publish there in the layer's serialization.
    """
    config: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    if config.get("BACKEND") != "channels_redis.pubsub.RedisPubSubChannelLayer":
        return None
    options: dict[str, Any] = config.get("CONFIG", {})
    hosts = options.get("hosts", [])
    if len(hosts) != 1 or not isinstance(hosts[0], dict) or hosts[0].get("address") != settings.REDIS_URL:
        return None
    from channels.layers import get_channel_layer

    return get_channel_layer(), options.get("prefix", "asgi")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class ChannelLayerLink:
    """This process's link to the others: one channel-layer subscription per watched channel.

    A watchdog sends itself a marker through Redis every ``CHATR_HUB_WATCH_SECONDS``; when one does
    not come back in time the link is taken as lost: every stream that relied on it is ended (the
    clients resume from the database) and the next subscriber builds the link anew.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.subscribed: set[str] = set()
        self._lock = asyncio.Lock()
        self._inbox: str | None = None
        self._receiver: asyncio.Task | None = None
        self._watchdog: asyncio.Task | None = None
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
                self._receiver = self.hub.spawn(self._receive(layer, self._inbox))
                await layer.group_add(CONTROL_GROUP, self._inbox)
            if self._watchdog is None:
                self._watchdog = self.hub.spawn(self._watch(layer))
            if wanted:
                await layer.group_add(group_name(channel), self._inbox)
                await self._barrier(layer, group_name(channel), send=layer.group_send)
                self.subscribed.add(channel)
            else:
                self.subscribed.discard(channel)
                await layer.group_discard(group_name(channel), self._inbox)

    async def _barrier(self, layer: Any, target: str, *, send: Any, timeout: float = 10) -> None:
        # SUBSCRIBE is written but not acknowledged: wait until our own marker comes back, so every
        # frame published after subscribe() returns is sure to reach this process.
        token = uuid.uuid4().hex
        arrived = asyncio.get_running_loop().create_future()
        self._barriers[token] = arrived
        try:
            # ``asyncio.timeout``, not ``wait_for``: Python 3.11's ``wait_for`` returns the result when its future
            # completes in the turn its caller is cancelled, so a stream whose client left as the marker came
            # back lived on (writing to a closed connection, its slot held).
            async with asyncio.timeout(timeout):
                await send(target, {"type": "chatr.barrier", "token": token})
                await arrived
        finally:
            self._barriers.pop(token, None)

    async def _watch(self, layer: Any) -> None:
        interval = settings.CHATR_HUB_WATCH_SECONDS
        while True:
            await asyncio.sleep(interval)
            inbox = self._inbox
            if inbox is None or not self.subscribed:
                continue
            try:
                await self._barrier(layer, inbox, send=layer.send, timeout=max(interval, 2.0))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("lost the channel layer (%r); ending the streams that relied on it", error)
                await self._reset(layer)

    async def _reset(self, layer: Any) -> None:
        async with self._lock:
            lost, self.subscribed = self.subscribed, set()
            self._inbox = None
            if self._receiver is not None:
                self._receiver.cancel()
                self._receiver = None
            try:
                async with asyncio.timeout(5):
                    await layer.flush()  # drop the old connections
            except Exception:
                logger.warning("closing the old channel layer connections failed", exc_info=True)
        for channel in lost:
            self.hub.end_channel(channel)

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
                self.hub.fan_out(message["channel"], message["frame"], message.get("after"))
            elif message.get("type") == "chatr.frames":
                for frame, after in message["frames"]:
                    self.hub.fan_out(message["channel"], frame, after)
            elif message.get("type") == "chatr.end_agent":
                self.hub.end_agent(message["agent"])
            elif message.get("type") == "chatr.barrier":
                arrived = self._barriers.get(message["token"])
                if arrived is not None and not arrived.done():
                    arrived.set_result(None)
