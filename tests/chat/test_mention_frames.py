"""Mention frames are built only while someone may watch a mentions feed (``realtime.watched``), and still every
stream gets every item exactly once, whenever it opens (contract §12; issue 22)."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest
import requests
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import selectors, services
from chat.models import Notification, Room
from realtime import api as realtime
from realtime import hub
from tests.chat.test_stream import STREAM_ENV
from tests.e2e.clients import headers, register
from tests.realtime.capture import capture_events
from tests.server import sqlite_server
from tests.sse import Frame, sse_frames


def test_the_hub_counts_the_kinds_of_channels_watched_in_this_process():
    # Kinds without a registered feed: subscribing reads no database.
    async def watch() -> list[tuple[bool, bool]]:
        seen = [(realtime.watched("quiet"), realtime.watched("other"))]
        elsewhere = await hub.subscribe("other:x")
        seen.append((realtime.watched("quiet"), realtime.watched("other")))
        first = await hub.subscribe("quiet:a")
        second = await hub.subscribe("quiet:a")
        third = await hub.subscribe("quiet:b")
        seen.append((realtime.watched("quiet"), realtime.watched("other")))
        for subscription in (first, third, elsewhere):
            hub.unsubscribe(subscription)
        seen.append((realtime.watched("quiet"), realtime.watched("other")))  # the second still watches "quiet:a"
        hub.unsubscribe(second)
        hub.unsubscribe(second)  # twice: counted once
        seen.append((realtime.watched("quiet"), realtime.watched("other")))
        return seen

    assert asyncio.run(watch()) == [(False, False), (False, True), (True, True), (True, False), (False, False)]


@pytest.mark.django_db(transaction=True)
def test_with_no_viewer_the_items_are_stored_and_a_later_stream_reads_them(make_agent):
    Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
    alice, bob = make_agent("alice", verified=True).agent, make_agent("bob").agent
    lobby = selectors.lobby()
    target = services.post_room_message(agent=bob, room=lobby, content="the question")
    assert not realtime.watched("mentions")
    reply = services.post_room_message(agent=alice, room=lobby, content="@bob an answer", reply_to=target.pk)

    async def open_and_post() -> tuple[list[bytes], list[int]]:
        subscription = await hub.subscribe(realtime.mentions_channel(bob.pk), agent_id=bob.pk)
        try:
            assert realtime.watched("mentions")
            backlog = await sync_to_async(_feed_messages, thread_sensitive=False)(bob)
            live = await sync_to_async(services.post_room_message, thread_sensitive=False)(
                agent=alice, room=lobby, content="@bob again"
            )
            frames = await asyncio.wait_for(subscription.next_frames(), timeout=5)
            return frames, [*backlog, live.pk]
        finally:
            hub.unsubscribe(subscription)

    frames, messages = asyncio.run(open_and_post())
    assert messages[0] == reply.pk  # told once (a reply that also mentions), read from the feed
    feed = list(Notification.objects.filter(agent=bob).order_by("pk").values_list("pk", "message_id"))
    assert [message for _, message in feed] == messages
    assert [realtime.frame_id(frame) for frame in frames] == [feed[-1][0]]  # the live one only, once


@pytest.mark.django_db
@pytest.mark.parametrize("watched_at_insert", [False, True])
def test_a_viewer_that_appears_before_the_commit_gets_the_items_whether_ids_were_returned_or_read_back(
    make_agent, settings, django_capture_on_commit_callbacks, watched_at_insert
):
    """Unwatched, the rows are written without ``RETURNING``; a viewer that appears before the commit (here: the
    recording, which hears every channel) still gets each item with its feed id, read back after the commit."""
    settings.CHATR_RATELIMITS = False
    alice, bob, carol = (make_agent(name).agent for name in ("alice", "bob", "carol"))
    lobby = selectors.lobby()
    target = services.post_room_message(agent=carol, room=lobby, content="a question")
    recording = capture_events()
    captured = recording.__enter__() if watched_at_insert else []
    try:
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            message = services.post_room_message(
                agent=alice, room=lobby, content="@bob @carol an answer", reply_to=target.pk
            )
            if not watched_at_insert:
                captured = recording.__enter__()  # a viewer appears after the insert, before the commit
    finally:
        recording.__exit__(None, None, None)
    inserts = [query["sql"] for query in queries.captured_queries if query["sql"].startswith('INSERT INTO "chat_notif')]
    read_back = [query["sql"] for query in queries.captured_queries if query["sql"].startswith('SELECT "chat_notif')]
    assert len(inserts) == 1 and ("RETURNING" in inserts[0]) == watched_at_insert
    assert len(read_back) == (0 if watched_at_insert else 1)
    stored = {
        (str(agent_id), reason): pk
        for pk, agent_id, reason in Notification.objects.filter(message=message).values_list("pk", "agent", "reason")
    }
    sent = {
        (channel.partition(":")[2], event["data"]["reason"]): int(event["data"]["id"])
        for channel, event in captured
        if channel.startswith("mentions:")
    }
    assert sent == stored and set(sent) == {(str(bob.pk), "mention"), (str(carol.pk), "reply")}
    items = [event["data"] for channel, event in captured if channel.startswith("mentions:")]
    assert [item["message"]["id"] for item in items] == [str(message.pk)] * 2


def _feed_messages(agent) -> list[int]:
    """What a stream resuming from the start reads: the messages of the agent's feed items."""
    return [item.message_id for item in selectors.mentions_backlog(agent=agent, after=0)[0]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("chatr-mention-frames"), server="uvicorn", **STREAM_ENV)
    yield process
    process.stop()


def _feed_ids(base: str, agent: dict) -> list[int]:
    ids: list[int] = []
    after = "0"
    while True:
        page = requests.get(
            f"{base}/api/mentions", params={"after": after, "limit": 100}, headers=headers(agent), timeout=30
        ).json()
        ids += [int(item["id"]) for item in page["mentions"]]
        if not page["mentions"]:
            return ids
        after = page["cursor"]


def _item_ids(frame: Frame) -> list[int]:
    if frame.type == "history":
        return [int(item["id"]) for item in frame.data]
    if frame.type == "mention":
        return [int(frame.data["id"])]
    return []


def _read(base: str, agent: dict, *, until, resume: int | None = None) -> list[int]:
    """The feed ids a mentions stream of ``agent`` gets (its history's, then live) until ``until(ids)`` holds or no
    frame comes for 5 s."""
    extra = {"Last-Event-ID": str(resume)} if resume is not None else {}
    frames = sse_frames(base, path="/api/mentions/stream", timeout=5, **headers(agent), **extra)
    ids: list[int] = []
    try:
        for frame in frames:
            ids += _item_ids(frame)
            if until(ids):
                break
    except requests.RequestException:
        pass  # nothing more came
    finally:
        frames.close()
    return ids


@pytest.mark.e2e
def test_a_mentions_stream_opened_at_any_moment_of_a_burst_gets_every_item_once_in_order(server):
    """Posts that mention bob and reply to him are stored in batches while his mentions streams open and close:
    short ones, each opened while no other mentions stream is open (so the server is deciding per batch whether
    to build frames at all), some resuming with ``Last-Event-ID``; and two opened mid-burst that stay until the
    last item. Each gets the items after its history (or its resume point) once, in feed order, and the two that
    stay get every one of them up to the last."""
    base = server.url
    poster, bob, carol, dave = (register(base, name) for name in ("poster", "bob", "carol", "dave"))
    answered = requests.post(f"{base}/api/messages", headers=headers(bob), json={"content": "ask me"}, timeout=30)
    target = answered.json()["message"]["id"]
    failures: list[str] = []
    stored: list[int] = []  # the ids of the posts stored
    stop = threading.Event()

    def post_many(worker: int) -> None:
        with requests.Session() as session:
            n = 0
            while n < 20 or (n < 300 and not stop.is_set()):  # while the streams below open, however fast
                body = {"content": f"@{bob['name']} @{carol['name']} @{dave['name']} w{worker} n{n}", "replyTo": target}
                answer = session.post(f"{base}/api/messages", headers=headers(poster), json=body, timeout=30)
                if answer.status_code == 201:
                    stored.append(int(answer.json()["message"]["id"]))
                else:
                    failures.append(answer.text)
                n += 1

    workers = [threading.Thread(target=post_many, args=(worker,)) for worker in range(4)]
    final: list[int] = []  # the feed's last id, once every post is stored
    staying: list[tuple[int | None, list[int]]] = []

    def stay(resume: int | None) -> None:
        staying.append((resume, _read(base, bob, until=lambda ids: bool(final) and ids[-1:] >= final, resume=resume)))

    for worker in workers:
        worker.start()
    short: list[tuple[int | None, list[int]]] = []  # (the Last-Event-ID it resumed from, the ids it got)
    stayers: list[threading.Thread] = []
    rng = random.Random(22)
    while len(short) < 10:
        time.sleep(rng.uniform(0, 0.05))
        got = [ids for _, ids in short if ids]
        resume = got[-1][len(got[-1]) // 2] if got and len(short) % 2 else None
        deadline = time.monotonic() + rng.uniform(0.02, 0.15)
        short.append((resume, _read(base, bob, until=lambda _, end=deadline: time.monotonic() > end, resume=resume)))
        if len(short) == 3:  # mid-burst: two streams that stay to the end, one fresh, one resuming (if it can)
            starts = (None, got[-1][0] if got else None)
            stayers = [threading.Thread(target=stay, args=(start,)) for start in starts]
            for stayer in stayers:
                stayer.start()
    stop.set()
    for worker in workers:
        worker.join()
    assert failures == []
    feed = _feed_ids(base, bob)
    final.append(feed[-1])
    for stayer in stayers:
        stayer.join()
    assert len(feed) == len(stored) and feed == sorted(set(feed))  # one item a post (told once), in order
    assert any(resume is not None for resume, _ in short), short
    assert len(staying) == 2
    for resume, ids in short + staying:
        if resume is not None:  # a resume starts right after its Last-Event-ID
            assert ids[:1] == feed[feed.index(resume) + 1 :][:1], (resume, ids)
        if ids:
            start = feed.index(ids[0])
            assert ids == feed[start : start + len(ids)], (ids, feed)  # nothing missed, nothing twice, in order
    for _, ids in staying:
        assert ids[-1] == feed[-1]  # ... and, for those that stayed, every item up to the last
