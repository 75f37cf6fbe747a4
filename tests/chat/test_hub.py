"""The hub in-process: frames encoded once, published only after commit, bounded queues."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from chat import events, selectors, services
from chat.models import Message, Room
from realtime import api as realtime
from realtime import hub


def test_a_delete_frame_is_unnamed_and_has_no_id_line(agent, db):
    message = services.post_room_message(agent=agent.agent, room=selectors.lobby(), content="soon gone")
    frame = realtime.encode(events.delete_event(message))
    assert frame == f'data: {{"type":"delete","data":{{"id":"{message.id}"}}}}\n\n'.encode()


def test_a_message_frame_carries_its_id_line(agent, db):
    message = services.post_room_message(agent=agent.agent, room=selectors.lobby(), content="hi ✨")
    frame = realtime.encode(events.message_event(message))
    assert frame.startswith(f"id: {message.id}\ndata: ".encode())
    assert frame.endswith(b"\n\n") and frame.count(b"\n") == 3  # one data line, even for any content
    assert "hi ✨".encode() in frame


@pytest.mark.django_db(transaction=True)
def test_a_committed_post_reaches_subscribers_and_a_rolled_back_one_does_not(make_agent):
    poster = make_agent("poster", verified=True).agent

    def post() -> Message:
        return services.post_room_message(agent=poster, room=selectors.lobby(), content="kept")

    def post_then_roll_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.post_room_message(agent=poster, room=selectors.lobby(), content="rolled back")
            raise RuntimeError("abort")

    async def watch() -> tuple[list[bytes], list[bytes], Message]:
        subscription = await hub.subscribe(realtime.room_channel("lobby"))
        kept = await sync_to_async(post, thread_sensitive=False)()
        frames = await asyncio.wait_for(subscription.next_frames(), timeout=5)
        await sync_to_async(post_then_roll_back, thread_sensitive=False)()
        later = []
        with contextlib.suppress(TimeoutError):  # a frame of the rolled-back message would arrive by then
            later = await asyncio.wait_for(subscription.next_frames(), timeout=0.3)
        hub.unsubscribe(subscription)
        return frames, later, kept

    frames, later, kept = asyncio.run(watch())
    assert frames == [realtime.encode(events.message_event(kept))]
    assert later == []
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
        await asyncio.Event().wait()  # as if blocked writing to a client that never reads

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


def _create(poster, contents: list[str], *, hidden: tuple[str, ...] = ()) -> list[tuple[Message, bytes]]:
    """Messages written straight to the database (no doorbell rung), with the frames a service would publish."""
    lobby, _ = Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
    created = []
    for content in contents:
        message = Message.objects.create(room=lobby, agent=poster, content=content, hidden=content in hidden)
        created.append((message, realtime.encode(events.message_event(message))))
    return created


@pytest.mark.django_db(transaction=True)
def test_doorbells_rung_out_of_commit_order_deliver_every_message_once_in_id_order(make_agent):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")

    async def watch() -> tuple[list[bytes], list[bytes], list[tuple[Message, bytes]]]:
        subscription = await hub.subscribe(channel)
        created = await sync_to_async(_create, thread_sensitive=False)(poster, ["first", "second"])
        (_, first), (_, second) = created
        # As two writers a few microseconds apart can: the later commit's frame is published first.
        hub.publish_frame(channel, second)
        delivered = await asyncio.wait_for(subscription.next_frames(), timeout=5)
        hub.publish_frame(channel, first)
        late = []
        with contextlib.suppress(TimeoutError):
            late = await asyncio.wait_for(subscription.next_frames(), timeout=0.3)
        hub.unsubscribe(subscription)
        return delivered, late, created

    delivered, late, created = asyncio.run(watch())
    assert delivered == [created[0][1], created[1][1]]  # the first one, read from the database, then the second
    assert late == []  # its own frame, arriving after it went out, is not sent again
    assert hub.subscriber_count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_doorbell_brings_the_visible_messages_before_it_and_skips_hidden_ones(make_agent):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")

    async def watch() -> tuple[list[bytes], list[tuple[Message, bytes]]]:
        subscription = await hub.subscribe(channel)
        created = await sync_to_async(_create, thread_sensitive=False)(poster, ["a", "b", "c"], hidden=("b",))
        hub.publish_frame(channel, created[2][1])
        delivered = await asyncio.wait_for(subscription.next_frames(), timeout=5)
        hub.unsubscribe(subscription)
        return delivered, created

    delivered, created = asyncio.run(watch())
    assert delivered == [created[0][1], created[2][1]]


@pytest.mark.django_db(transaction=True)
def test_messages_committed_before_the_first_viewer_subscribed_are_not_fanned_out_again(make_agent):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")
    older = _create(poster, ["old"])

    async def watch() -> tuple[list[bytes], list[tuple[Message, bytes]]]:
        subscription = await hub.subscribe(channel)
        hub.publish_frame(channel, older[0][1])  # a late frame of a message the viewer's history holds
        newer = await sync_to_async(_create, thread_sensitive=False)(poster, ["new"])
        hub.publish_frame(channel, newer[0][1])
        delivered = await asyncio.wait_for(subscription.next_frames(), timeout=5)
        hub.unsubscribe(subscription)
        return delivered, newer

    delivered, newer = asyncio.run(watch())
    assert delivered == [newer[0][1]]


@pytest.mark.django_db(transaction=True)
def test_a_stream_the_server_cancels_gives_its_subscription_back():
    """daphne cancels an application that outlived its client: the stream must not live on."""
    from chatr.asgi import stream_application
    from tests.aio import run

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/stream",
        "raw_path": b"/api/stream",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def connect_then_cancel() -> tuple[list[dict], int, int]:
        sent: list[dict] = []
        requested = False

        async def receive() -> dict:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client never says it left
            raise AssertionError("unreachable")

        async def send(message: dict) -> None:
            sent.append(message)

        serving = asyncio.create_task(stream_application(scope, receive, send))
        for _ in range(200):
            if hub.subscriber_count() == 1:
                break
            await asyncio.sleep(0.02)
        while_open = hub.subscriber_count()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await asyncio.sleep(0.05)
        return sent, while_open, hub.subscriber_count()

    sent, while_open, after = run(connect_then_cancel())
    assert sent[0]["status"] == 200
    assert while_open == 1
    assert after == 0
