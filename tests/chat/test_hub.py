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
    # Real commits: an earlier test with real commits may have flushed the migration's lobby row.
    Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
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


def _reads() -> float:
    from chatr import metrics

    return metrics.HUB_LOG_READS._value.get()


@pytest.mark.django_db(transaction=True)
def test_frames_that_follow_what_went_out_are_fanned_out_without_reading_the_log(make_agent):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")

    async def watch() -> tuple[list[bytes], float, list[tuple[Message, bytes]]]:
        subscription = await hub.subscribe(channel)
        created = await sync_to_async(_create, thread_sensitive=False)(poster, ["a", "b", "c"])
        before = _reads()
        previous = 0
        for message, frame in created:
            hub.publish_frame(channel, frame, previous)
            previous = message.id
        delivered: list[bytes] = []
        while len(delivered) < 3:
            delivered += await asyncio.wait_for(subscription.next_frames(), timeout=5)
        reads = _reads() - before
        hub.unsubscribe(subscription)
        return delivered, reads, created

    delivered, reads, created = asyncio.run(watch())
    assert delivered == [frame for _, frame in created]
    assert reads == 0  # each frame said which one came before it, and that one had gone out


@pytest.mark.django_db(transaction=True)
def test_a_frame_whose_predecessor_has_not_gone_out_waits_for_the_log_and_nothing_comes_twice(make_agent):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")

    async def watch() -> tuple[list[bytes], list[bytes], float, list[tuple[Message, bytes]]]:
        subscription = await hub.subscribe(channel)
        created = await sync_to_async(_create, thread_sensitive=False)(poster, ["first", "second", "third"])
        (first, first_frame), (second, second_frame), (_, third_frame) = created
        before = _reads()
        # As two processes can: the second's frame arrives first; it names the first, which has not gone out.
        hub.publish_frame(channel, second_frame, first.id)
        delivered = await asyncio.wait_for(subscription.next_frames(), timeout=5)
        hub.publish_frame(channel, first_frame, 0)  # late: the read already brought it
        hub.publish_frame(channel, third_frame, second.id)  # contiguous again
        later: list[bytes] = []
        with contextlib.suppress(TimeoutError):
            while True:
                later += await asyncio.wait_for(subscription.next_frames(), timeout=0.3)
        reads = _reads() - before
        hub.unsubscribe(subscription)
        return delivered, later, reads, created

    delivered, later, reads, created = asyncio.run(watch())
    assert delivered == [created[0][1], created[1][1]]  # the first, read from the database, then the second
    assert later == [created[2][1]]  # the late first is not sent again; the third needs no read
    assert reads == 1


@pytest.mark.django_db(transaction=True)
def test_a_contiguous_frame_skips_a_hidden_message_as_the_log_would(make_agent):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")

    async def watch() -> tuple[list[bytes], float, list[tuple[Message, bytes]]]:
        subscription = await hub.subscribe(channel)
        created = await sync_to_async(_create, thread_sensitive=False)(poster, ["a", "b", "c"], hidden=("b",))
        (a, a_frame), _, (c, c_frame) = created
        previous = await sync_to_async(selectors.previous_room_message_id, thread_sensitive=False)(
            room_id="lobby", before=c.id
        )
        before = _reads()
        hub.publish_frame(channel, a_frame, 0)
        hub.publish_frame(channel, c_frame, previous)
        delivered: list[bytes] = []
        while len(delivered) < 2:
            delivered += await asyncio.wait_for(subscription.next_frames(), timeout=5)
        reads = _reads() - before
        hub.unsubscribe(subscription)
        return delivered, reads, [a.id, previous]

    delivered, reads, (a_id, previous) = asyncio.run(watch())
    assert previous == a_id  # the hidden message in between is not the visible one before
    assert len(delivered) == 2 and b'"content":"a"' in delivered[0] and b'"content":"c"' in delivered[1]
    assert reads == 0


@pytest.mark.django_db(transaction=True)
def test_posts_to_a_watched_room_reach_it_in_order_without_reading_the_log(make_agent):
    """The writer's frames carry the room's previous id: in one transaction (a batch) and across transactions."""
    poster = make_agent("poster", verified=True).agent
    channel = realtime.room_channel("lobby")

    def post_three() -> list[int]:
        Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
        first = services.post_room_message(agent=poster, room=selectors.lobby(), content="one")
        with transaction.atomic():  # two posts committed together: the second's predecessor is the first
            second = services.post_room_message(agent=poster, room=selectors.lobby(), content="two")
            third = services.post_room_message(agent=poster, room=selectors.lobby(), content="three")
        return [first.id, second.id, third.id]

    async def watch() -> tuple[list[bytes], float, list[int]]:
        subscription = await hub.subscribe(channel)
        before = _reads()
        ids = await sync_to_async(post_three, thread_sensitive=False)()
        delivered: list[bytes] = []
        while len(delivered) < 3:
            delivered += await asyncio.wait_for(subscription.next_frames(), timeout=5)
        reads = _reads() - before
        hub.unsubscribe(subscription)
        return delivered, reads, ids

    delivered, reads, ids = asyncio.run(watch())
    assert [realtime.frame_id(frame) for frame in delivered] == ids
    assert reads == 0


@pytest.mark.django_db(transaction=True)
def test_the_previous_id_remembered_in_a_transaction_is_forgotten_when_it_rolls_back(make_agent):
    from realtime import feeds

    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")
    ((kept, _),) = _create(poster, ["kept"])
    with pytest.raises(RuntimeError), transaction.atomic():
        ((rolled_back, _),) = _create(poster, ["rolled back"])
        assert feeds.previous_in_transaction(channel, rolled_back.id) == kept.id
        raise RuntimeError("abort")
    with transaction.atomic():
        ((later, _),) = _create(poster, ["later"])
        assert feeds.previous_in_transaction(channel, later.id) == kept.id  # not the rolled-back one
        ((last, _),) = _create(poster, ["last"])
        assert feeds.previous_in_transaction(channel, last.id) == later.id


@pytest.mark.django_db(transaction=True)
def test_a_frame_that_arrives_while_the_channel_first_reads_its_log_is_not_fanned_out_if_it_is_older(make_agent):
    poster = make_agent("poster").agent
    channel = realtime.room_channel("lobby")
    ((old, old_frame),) = _create(poster, ["old"])

    async def watch() -> tuple[list[bytes], bytes]:
        subscribing = asyncio.ensure_future(hub.subscribe(channel))
        for _ in range(100):  # until the channel's first read of its log is under way
            if channel in hub._hub.logs:
                break
            await asyncio.sleep(0)
        # A late frame of a message committed before anyone watched, which names its predecessor.
        hub._hub.fan_out(channel, old_frame, 0)
        subscription = await subscribing
        ((_new, new_frame),) = await sync_to_async(_create, thread_sensitive=False)(poster, ["new"])
        hub.publish_frame(channel, new_frame, old.id)
        delivered = await asyncio.wait_for(subscription.next_frames(), timeout=5)
        hub.unsubscribe(subscription)
        return delivered, new_frame

    delivered, new_frame = asyncio.run(watch())
    assert delivered == [new_frame]


def test_a_live_viewer_whose_socket_pushes_back_gets_what_queued_in_one_write_and_stalls_no_one():
    channel = "plain:room"  # no feed: frames pass straight through

    async def watch() -> tuple[list[bytes], list[bytes], int]:
        quick_writes: list[bytes] = []
        slow_writes: list[bytes] = []
        slow_socket_free = asyncio.Event()

        async def quick_send(message: dict) -> None:
            quick_writes.append(message["body"])

        async def slow_send(message: dict) -> None:
            if not slow_writes:
                await slow_socket_free.wait()  # the first write waits for the client to read
            slow_writes.append(message["body"])

        quick, slow = await hub.subscribe(channel), await hub.subscribe(channel)
        viewers = [asyncio.ensure_future(quick.live(quick_send)), asyncio.ensure_future(slow.live(slow_send))]
        await asyncio.sleep(0)
        for number in range(4):
            hub.publish_frame(channel, b"data: %d\n\n" % number)
            await asyncio.sleep(0)  # one turn of the loop each: four writes, not one
        quick_then = list(quick_writes)
        slow_socket_free.set()
        for _ in range(100):
            if len(slow_writes) == 2:
                break
            await asyncio.sleep(0)
        direct_again = slow.direct is not None
        hub.publish_frame(channel, b"data: 4\n\n")
        await asyncio.sleep(0)
        for viewer in viewers:
            viewer.cancel()
        for subscription in (quick, slow):
            hub.unsubscribe(subscription)
        return quick_then, slow_writes, direct_again

    quick_then, slow_writes, direct_again = asyncio.run(watch())
    assert quick_then == [b"data: %d\n\n" % number for number in range(4)]  # not held up by the slow one
    assert slow_writes == [b"data: 0\n\n", b"data: 1\n\ndata: 2\n\ndata: 3\n\n", b"data: 4\n\n"]
    assert direct_again  # once caught up, the hub writes to it straight away again


def test_frames_fanned_out_in_one_turn_of_the_loop_reach_a_live_viewer_in_one_write_in_order():
    """A batch of posts committed together reaches the loop together: one write per viewer, not one per frame."""
    channel = "plain:room"

    async def watch() -> list[bytes]:
        writes: list[bytes] = []

        async def send(message: dict) -> None:
            writes.append(message["body"])

        subscription = await hub.subscribe(channel)
        viewer = asyncio.ensure_future(subscription.live(send))
        await asyncio.sleep(0)
        for number in range(3):
            hub.publish_frame(channel, b"data: %d\n\n" % number)
        await asyncio.sleep(0)
        viewer.cancel()
        hub.unsubscribe(subscription)
        return writes

    assert asyncio.run(watch()) == [b"data: 0\n\ndata: 1\n\ndata: 2\n\n"]
