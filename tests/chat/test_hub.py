"""The hub in-process: frames encoded once, published only after commit, bounded queues."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from chat import events, hub, selectors, services
from chat.models import Message, Room


def test_a_delete_frame_is_unnamed_and_has_no_id_line(agent, db):
    message = services.post_room_message(agent=agent.agent, room=selectors.lobby(), content="soon gone")
    frame = events.encode(events.delete_event(message))
    assert frame == f'data: {{"type":"delete","data":{{"id":"{message.id}"}}}}\n\n'.encode()


def test_a_message_frame_carries_its_id_line(agent, db):
    message = services.post_room_message(agent=agent.agent, room=selectors.lobby(), content="hi ✨")
    frame = events.encode(events.message_event(message))
    assert frame.startswith(f"id: {message.id}\ndata: ".encode())
    assert frame.endswith(b"\n\n") and frame.count(b"\n") == 3  # one data line, even for any content
    assert "hi ✨".encode() in frame


@pytest.mark.django_db(transaction=True)
def test_a_committed_post_reaches_subscribers_and_a_rolled_back_one_does_not(make_agent):
    poster = make_agent("poster", verified=True).agent

    def post_then_roll_back() -> Message:
        message = services.post_room_message(agent=poster, room=selectors.lobby(), content="kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            services.post_room_message(agent=poster, room=selectors.lobby(), content="rolled back")
            raise RuntimeError("abort")
        return message

    async def watch() -> tuple[list[bytes], Message]:
        subscription = await hub.subscribe(hub.room_channel("lobby"))
        kept = await sync_to_async(post_then_roll_back, thread_sensitive=False)()
        frames = await asyncio.wait_for(subscription.next_frames(), timeout=5)
        await asyncio.sleep(0.2)  # a frame of the rolled-back message would have arrived by now
        hub.unsubscribe(subscription)
        return frames, kept

    frames, kept = asyncio.run(watch())
    assert frames == [events.encode(events.message_event(kept))]
    assert hub.subscriber_count() == 0


def test_a_viewer_that_falls_a_whole_queue_behind_is_ended():
    async def viewer(ready: asyncio.Event, subscriptions: list) -> None:
        subscriptions.append(hub.Subscription("room:lobby", limit=2, wants_stats=False, now=0.0))
        ready.set()
        await subscriptions[0].next_frames()  # a burst bigger than the queue arrives in one go

    async def overflow() -> None:
        ready, subscriptions = asyncio.Event(), []
        task = asyncio.create_task(viewer(ready, subscriptions))
        await ready.wait()
        await asyncio.sleep(0)  # the viewer is now waiting for frames
        for n in range(3):
            subscriptions[0].offer(b"frame %d" % n, now=0.0)
        with pytest.raises(hub.Overflow):
            await task

    asyncio.run(overflow())


def test_a_viewer_stuck_writing_when_its_queue_overflows_is_cancelled():
    async def viewer(ready: asyncio.Event, subscriptions: list) -> None:
        subscriptions.append(hub.Subscription("room:lobby", limit=2, wants_stats=False, now=0.0))
        ready.set()
        await asyncio.sleep(3600)  # as if blocked writing to a client that never reads

    async def overflow() -> None:
        ready, subscriptions = asyncio.Event(), []
        task = asyncio.create_task(viewer(ready, subscriptions))
        await ready.wait()
        for n in range(3):
            subscriptions[0].offer(b"frame %d" % n, now=0.0)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(overflow())


def test_more_than_1000_missed_messages_resume_with_a_fresh_history(agent, db):
    lobby = Room.objects.get(pk="lobby")
    Message.objects.bulk_create(Message(room=lobby, agent=agent.agent, content=f"m{n}") for n in range(1002))
    ids = list(Message.objects.order_by("id").values_list("id", flat=True))
    messages, is_replay = selectors.stream_backlog(room_id="lobby", after=ids[0])  # 1,001 missed
    assert not is_replay
    assert [message.id for message in messages] == ids[-100:]
    messages, is_replay = selectors.stream_backlog(room_id="lobby", after=ids[1])  # exactly 1,000
    assert is_replay
    assert [message.id for message in messages] == ids[2:]
