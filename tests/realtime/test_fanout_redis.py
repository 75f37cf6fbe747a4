"""Frames that cross Redis out of commit order still reach a viewer once each, in id order, with no gap.

Two processes posting to one room publish each message's frame after their own commit; Redis can hand them
to a third process in the other order. Each frame names the visible id before it: the hub fans a frame out
without reading the log only when that one has gone out, and reads the log for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from asgiref.sync import sync_to_async

from chat import events
from chat.models import Message, Room
from chatr import metrics
from realtime import api as realtime
from realtime import hub
from tests.services import fresh_redis_db

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

REDIS = "realtime.backends.redis.RedisBackend"


def _create(poster, contents: list[str]) -> list[tuple[Message, bytes]]:
    lobby, _ = Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
    created = []
    for content in contents:
        message = Message.objects.create(room=lobby, agent=poster, content=content)
        created.append((message, realtime.encode(events.message_event(message))))
    return created


def test_frames_published_through_redis_out_of_commit_order_reach_a_viewer_in_id_order(make_agent, settings):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")
    with fresh_redis_db() as url:
        settings.REDIS_URL = url
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [{"address": url}], "prefix": f"chatrtest{uuid.uuid4().hex[:8]}"},
            }
        }
        settings.CHATR_REALTIME_BACKEND = REDIS

        async def watch() -> tuple[list[bytes], float, list[tuple[Message, bytes]]]:
            subscription = await hub.subscribe(channel)
            created = await sync_to_async(_create, thread_sensitive=False)(poster, ["one", "two", "three", "four"])
            (one, one_frame), (two, two_frame), (three, three_frame), (_, four_frame) = created
            reads = metrics.HUB_LOG_READS._value.get()
            # From the publishers' threads, each waiting until Redis has its frame: "process B" committed
            # after "process A" but its frames reach Redis first.
            publish = sync_to_async(hub.publish_frame, thread_sensitive=False)
            await publish(channel, two_frame, one.id)
            await publish(channel, one_frame, 0)
            await publish(channel, three_frame, two.id)
            await publish(channel, four_frame, three.id)
            delivered: list[bytes] = []
            with contextlib.suppress(TimeoutError):
                while True:  # everything, and then anything sent twice
                    delivered += await asyncio.wait_for(subscription.next_frames(), timeout=1 if delivered else 10)
            reads = metrics.HUB_LOG_READS._value.get() - reads
            hub.unsubscribe(subscription)
            await asyncio.sleep(0.1)  # the link lets go of the channel
            return delivered, reads, created

        delivered, reads, created = asyncio.run(watch())
    assert delivered == [frame for _, frame in created]
    assert reads == 1  # the second's frame waited for one read; the third and fourth followed without one
