"""The group-commit writer's batch statements (issue 22), in process: one INSERT for a batch's messages, one for its
keys, one for its notifications, one UPDATE per room. Each test would fail if the batching gave a post another's
id, broke the queue's order, or let one bad post fail the others."""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from chat import group_commit, mentions, selectors, services, writer
from chat.exceptions import IdempotencyKeyReused, RoomNotFound
from chat.models import IdempotencyKey, Message, Notification, Room


def room_post(agent, room, content, *, reply_to=None, conversation=None, once=None) -> writer.RoomPost:
    if conversation is None:
        conversation = mentions.prepare(author=agent, room=room, content=content, reply_to=reply_to)
    return writer.RoomPost(
        agent=agent,
        room=room,
        content=content,
        signature=None,
        signature_verified=False,
        conversation=conversation,
        once=once,
    )


def once(key: str, fingerprint: str = "f" * 64) -> writer.Once:
    return writer.Once(key=key, fingerprint=fingerprint, answer=lambda message: (201, {"id": str(message.pk)}))


def write(posts: list[writer.RoomPost]) -> list[writer._Entry]:
    """``posts`` as one batch, in this queue order, as a leader writes it."""
    entries = [writer._Entry(post) for post in posts]
    writer._write_batch(entries)
    return entries


@pytest.mark.django_db
def test_a_batch_hands_out_ids_in_queue_order_and_each_post_gets_its_own_row(make_agent):
    lobby = selectors.lobby()
    agents = [make_agent(f"writer{i}").agent for i in range(4)]
    before = Room.objects.get(pk=lobby.pk).visible_count
    # Two posts equal in every column but the id, and a queue order that is not the authors' order.
    contents = ["third", "first", "same words", "same words", "second", "last"]
    authors = [agents[2], agents[0], agents[1], agents[1], agents[3], agents[0]]
    entries = write([room_post(author, lobby, text) for author, text in zip(authors, contents, strict=True)])

    ids = [entry.result.message.pk for entry in entries]
    assert all(entry.error is None for entry in entries)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # queue order, one id each
    stored = {row.pk: row for row in Message.objects.filter(pk__in=ids)}
    for entry, author, text in zip(entries, authors, contents, strict=True):
        row = stored[entry.result.message.pk]
        assert (row.agent_id, row.content, row.room_id) == (author.pk, text, lobby.pk)
    assert Room.objects.get(pk=lobby.pk).visible_count == before + len(contents)


@pytest.mark.django_db
def test_a_batch_is_one_statement_per_kind_of_row(make_agent):
    lobby = selectors.lobby()
    bob, carol = make_agent("bob").agent, make_agent("carol").agent
    target = services.post_room_message(agent=carol, room=lobby, content="answer me")
    posts = [room_post(bob, lobby, f"@carol number {n}", reply_to=target.pk, once=once(f"key-{n}")) for n in range(5)]
    with CaptureQueriesContext(connection) as queries:
        entries = write(posts)
    assert all(entry.error is None for entry in entries)
    statements = [re.sub(r"^\d+ times: ", "", q["sql"]) for q in queries.captured_queries]  # executemany's
    tables = [" ".join(sql.split(" ", 3)[:3]) for sql in statements if sql.startswith(("INSERT", "UPDATE"))]
    assert tables == [
        'INSERT INTO "chat_idempotencykey"',
        'UPDATE "chat_room" SET',
        'INSERT INTO "chat_message"',
        'INSERT INTO "chat_notification"',
        'UPDATE "chat_idempotencykey" SET',  # one executemany for every key's answer
    ]
    feed = list(Notification.objects.filter(agent=carol).order_by("pk").values_list("message_id", "reason"))
    assert feed == [
        (entry.result.message.pk, "reply") for entry in entries
    ]  # feed ids in the messages' order; a reply beats a mention
    answers = dict(IdempotencyKey.objects.filter(agent=bob).values_list("key", "body"))
    assert answers == {f"key-{n}": {"id": str(entries[n].result.message.pk)} for n in range(5)}


@pytest.mark.django_db
def test_a_post_to_a_room_that_is_gone_fails_alone_and_the_others_keep_their_order(make_agent):
    lobby = selectors.lobby()
    alice = make_agent("alice").agent
    gone = Room(pk="no-such-room", kind=Room.Kind.GROUP, name="gone")
    entries = write(
        [
            room_post(alice, lobby, "one", conversation=mentions.NOTHING),
            room_post(alice, gone, "lost", conversation=mentions.NOTHING),
            room_post(alice, lobby, "two", conversation=mentions.NOTHING),
            room_post(alice, gone, "lost too", conversation=mentions.NOTHING),
        ]
    )
    assert isinstance(entries[1].error, RoomNotFound) and isinstance(entries[3].error, RoomNotFound)
    assert entries[1].result is None and entries[3].result is None
    kept = [entries[0].result.message, entries[2].result.message]
    assert kept[0].pk < kept[1].pk
    assert list(Message.objects.filter(agent=alice).order_by("pk").values_list("content", flat=True)) == ["one", "two"]


@pytest.mark.django_db
def test_a_key_reused_with_another_body_fails_alone_and_a_retry_is_replayed(make_agent):
    lobby = selectors.lobby()
    alice = make_agent("alice").agent
    first = write([room_post(alice, lobby, "first", conversation=mentions.NOTHING, once=once("k1", "a" * 64))])[0]
    assert first.error is None
    entries = write(
        [
            room_post(alice, lobby, "new", conversation=mentions.NOTHING, once=once("k2")),
            room_post(alice, lobby, "other body", conversation=mentions.NOTHING, once=once("k1", "b" * 64)),
            room_post(alice, lobby, "first", conversation=mentions.NOTHING, once=once("k1", "a" * 64)),
            room_post(alice, lobby, "newer", conversation=mentions.NOTHING, once=once("k3")),
        ]
    )
    assert isinstance(entries[1].error, IdempotencyKeyReused)
    assert entries[2].result.replayed is not None and entries[2].result.replayed.body == {
        "id": str(first.result.message.pk)
    }
    assert entries[0].result.message.pk < entries[3].result.message.pk
    assert Message.objects.filter(agent=alice).count() == 3  # first, new, newer


@pytest.mark.django_db
def test_two_posts_of_one_batch_with_one_key_make_one_message_and_the_second_is_replayed(make_agent):
    lobby = selectors.lobby()
    alice = make_agent("alice").agent
    entries = write([room_post(alice, lobby, "once", conversation=mentions.NOTHING, once=once("same")) for _ in "ab"])
    assert entries[0].result.message is not None
    assert entries[1].result.replayed.body == {"id": str(entries[0].result.message.pk)}
    assert Message.objects.filter(agent=alice).count() == 1


@pytest.mark.django_db(transaction=True)  # real commits: the broken reference is found at COMMIT
def test_a_post_that_breaks_a_shared_statement_at_commit_fails_alone(make_agent):
    lobby, _ = Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
    alice = make_agent("alice").agent
    missing = Message(pk=10**12, agent=alice, room=lobby, content="never stored")  # a target that does not exist
    broken = mentions.Conversation(reply_to=missing)
    entries = write(
        [
            room_post(alice, lobby, "fine", conversation=mentions.NOTHING),
            room_post(alice, lobby, "answers nothing", conversation=broken),
            room_post(alice, lobby, "also fine", conversation=mentions.NOTHING),
        ]
    )
    assert isinstance(entries[1].error, IntegrityError) and entries[1].result is None
    stored = [entries[0].result.message, entries[2].result.message]
    assert stored[0].pk < stored[1].pk
    assert list(Message.objects.order_by("pk").values_list("content", flat=True)) == ["fine", "also fine"]


@pytest.mark.django_db
def test_a_message_made_without_its_constructor_equals_the_constructors(make_agent):
    lobby = selectors.lobby()
    alice, bob = make_agent("alice").agent, make_agent("bob").agent
    target = services.post_room_message(agent=bob, room=lobby, content="answer me")
    post = room_post(alice, lobby, "@bob hi", reply_to=target.pk)
    post.signature, post.signature_verified = "sig", True
    now = target.created_at
    fast = writer._new_message(post, now)
    slow = Message(
        room=post.room,
        agent=post.agent,
        content=post.content,
        signature=post.signature,
        signature_verified=post.signature_verified,
        created_at=now,
        mentions=post.conversation.mention_data,
        reply_to=post.conversation.reply_to,
    )
    for field in Message._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(slow, field.attname), field.attname
    assert set(fast.__dict__) - {"_state"} == set(slow.__dict__) - {"_state"}
    assert (fast.room, fast.agent, fast.reply_to) == (slow.room, slow.agent, slow.reply_to)
    assert fast.reply_to is post.conversation.reply_to and fast.agent is alice
    assert fast._state.adding and slow._state.adding


@pytest.mark.django_db(transaction=True)  # real commits: the queue and its batches, as a drain uses them
def test_store_all_gives_each_post_its_result_in_order_over_several_batches_and_a_failure_stays_alone(make_agent):
    lobby, _ = Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
    alice = make_agent("alice").agent
    gone = Room(pk="no-such-room", kind=Room.Kind.GROUP, name="gone")
    count = group_commit.MAX_BATCH + 6  # more than one batch: the caller leads one, then the next
    rooms = [gone if n in (3, group_commit.MAX_BATCH + 2) else lobby for n in range(count)]
    results = writer.store_all(
        [room_post(alice, room, f"queued {n}", conversation=mentions.NOTHING) for n, room in enumerate(rooms)]
    )

    assert [isinstance(result, RoomNotFound) for result in results] == [room is gone for room in rooms]
    kept = [(n, result.message) for n, result in enumerate(results) if isinstance(result, writer.Stored)]
    assert [message.content for _, message in kept] == [f"queued {n}" for n, room in enumerate(rooms) if room is lobby]
    ids = [message.pk for _, message in kept]
    assert ids == sorted(ids)  # queue order
    stored = dict(Message.objects.filter(agent=alice).values_list("pk", "content"))
    assert stored == {message.pk: message.content for _, message in kept}


@pytest.mark.django_db
def test_store_all_inside_a_transaction_writes_each_post_there_and_returns_a_failure_in_its_place(make_agent):
    lobby = selectors.lobby()
    alice = make_agent("alice").agent
    gone = Room(pk="no-such-room", kind=Room.Kind.GROUP, name="gone")
    results = writer.store_all(
        [
            room_post(alice, lobby, "inside one", conversation=mentions.NOTHING),
            room_post(alice, gone, "lost", conversation=mentions.NOTHING),
            room_post(alice, lobby, "inside two", conversation=mentions.NOTHING),
        ]
    )
    assert isinstance(results[1], RoomNotFound)
    assert [result.message.content for result in (results[0], results[2])] == ["inside one", "inside two"]


@pytest.mark.django_db(transaction=True)  # real commits: on_commit callbacks run
def test_a_publish_that_fails_after_the_commit_stores_each_post_once_and_answers_it(make_agent, monkeypatch):
    """What happens after the commit (versions, frames: a Redis trip) cannot undo the commit: the posts are stored,
    so their posters get them, and the batch is not written a second time post by post (a duplicate of each)."""
    lobby, _ = Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
    agents = [make_agent(f"afterwards{i}").agent for i in range(3)]
    before = Message.objects.count()

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis went away after the commit")

    monkeypatch.setattr(writer.hub, "announce", unreachable)
    entries = write([room_post(agent, lobby, f"kept once {n}") for n, agent in enumerate(agents)])

    assert [entry.error for entry in entries] == [None, None, None]
    assert Message.objects.count() == before + 3
    assert sorted(Message.objects.filter(content__startswith="kept once").values_list("content", flat=True)) == [
        "kept once 0",
        "kept once 1",
        "kept once 2",
    ]
