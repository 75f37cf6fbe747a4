"""One id space (chat.ids): direct messages take their ids from the room messages' sequence, so no new direct message
shares an id with a room message; the migration moved that sequence past every direct message stored before. On
SQLite, in process; PostgreSQL's is in tests/scale/test_postgres_message_ids.py."""

from __future__ import annotations

import ast
import importlib
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from django.apps import apps
from django.db import connection, transaction

from chat import ids, selectors
from chat import services as chat_services
from chat.models import DirectMessage, Message
from tests.e2e.clients import headers, register
from tests.server import sqlite_server

ROOT = Path(__file__).resolve().parents[2]


def dm(sender, recipient, content: str) -> DirectMessage:
    return chat_services.send_direct_message(sender=sender.agent, recipient_id=recipient.agent.pk, content=content)


def lobby_post(agent, content: str) -> Message:
    return chat_services.post_room_message(agent=agent.agent, room=selectors.lobby(), content=content, approved=True)


def test_outside_a_transaction_it_refuses():
    """An id taken outside the transaction that stores its message would be handed out out of commit order."""
    with pytest.raises(RuntimeError):
        ids.take(1)


@pytest.mark.django_db
class TestTake:
    def test_ids_are_ascending_above_every_room_message_and_skipped_by_the_next_one(self, agent):
        before = lobby_post(agent, "before").pk
        with transaction.atomic():
            taken = ids.take(3)
        assert taken == [before + 1, before + 2, before + 3]
        assert lobby_post(agent, "after").pk == before + 4

    def test_without_the_sequence_row_it_starts_above_the_stored_messages(self, agent):
        stored = lobby_post(agent, "stored").pk
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = 'chat_message'")
        with transaction.atomic():
            assert ids.take(2) == [stored + 1, stored + 2]
        assert lobby_post(agent, "next").pk == stored + 3

    def test_dms_and_room_posts_never_share_an_id(self, agent, make_agent):
        bob = make_agent("bob")
        room_ids, direct_ids = [], []
        for n in range(5):
            room_ids.append(lobby_post(agent, f"room {n}").pk)
            direct_ids.append(dm(agent, bob, f"dm {n}").pk)
        assert not set(room_ids) & set(direct_ids)
        assert sorted(room_ids + direct_ids) == [pk for pair in zip(room_ids, direct_ids, strict=True) for pk in pair]


@pytest.mark.django_db
class TestMigration:
    def move(self) -> None:
        migration = importlib.import_module("chat.migrations.0007_direct_message_ids")
        migration.move_message_sequence(apps, SimpleNamespace(connection=connection))

    def test_every_new_id_is_above_every_direct_message_stored_before(self, agent, make_agent):
        bob = make_agent("bob")
        lobby_post(agent, "old room message")
        # Direct messages from their own sequence, as before the migration: far above the room messages.
        DirectMessage.objects.create(id=5000, sender=agent.agent, recipient=bob.agent, content="old dm")
        self.move()
        room = lobby_post(agent, "new room message").pk
        direct = dm(agent, bob, "new dm").pk
        assert 5000 < room < direct
        assert [int(item.pk) for item in selectors.inbox(agent=bob.agent, since=4999)] == [5000, direct]

    def test_it_never_moves_the_sequence_back(self, agent, make_agent):
        bob = make_agent("bob")
        DirectMessage.objects.create(id=3, sender=agent.agent, recipient=bob.agent, content="old dm")
        for n in range(5):
            lobby_post(agent, f"room {n}")
        highest = Message.objects.order_by("-pk").values_list("pk", flat=True).first()
        self.move()
        assert lobby_post(agent, "next").pk == highest + 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("message-ids"), CHATR_RATELIMITS="off")
    yield process
    process.stop()


@pytest.mark.e2e
def test_concurrent_posts_and_dms_through_both_writers_never_share_an_id(server):
    """Agents post to the lobby and send DMs at once, against a real server: the two group-commit writers' batches
    interleave on the database's write lock, and still no id is handed out twice; a recipient following its
    ``since`` cursor meanwhile sees each DM once, in increasing order."""
    base = server.url
    writers = [register(base, "ids") for _ in range(6)]
    recipient = register(base, "inbox")
    room_ids: list[int] = []
    direct_ids: list[int] = []
    start = threading.Barrier(len(writers))

    def write(who: dict) -> None:
        with requests.Session() as session:
            start.wait()
            for n in range(8):
                posted = session.post(f"{base}/api/messages", json={"content": f"room {n}"}, headers=headers(who))
                assert posted.status_code == 201, posted.text
                room_ids.append(int(posted.json()["message"]["id"]))
                body = {"toAiId": recipient["id"], "content": f"dm {n}"}
                sent = session.post(f"{base}/ai/messages", json=body, headers=headers(who))
                assert sent.status_code == 201, sent.text
                direct_ids.append(int(sent.json()["message"]["id"]))

    threads = [threading.Thread(target=write, args=(who,)) for who in writers]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    with requests.Session() as reader:
        while any(thread.is_alive() for thread in threads) or len(seen) < len(direct_ids):
            page = reader.get(
                f"{base}/ai/messages",
                params={"since": seen[-1] if seen else 0, "limit": 100},
                headers=headers(recipient),
            ).json()["messages"]
            seen += [int(message["id"]) for message in page]
    for thread in threads:
        thread.join(60)
    assert len(room_ids) == len(direct_ids) == len(writers) * 8
    assert not set(room_ids) & set(direct_ids)
    assert seen == sorted(direct_ids)


def test_only_the_direct_messages_writer_creates_direct_messages():
    """Every direct message takes its id from ``chat.ids``: nothing outside ``chat/direct_writer.py`` builds one."""
    creators: list[str] = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "tests/", "bench/", "clients/")) or "/migrations/" in relative:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
            if not isinstance(node, ast.Call):
                continue
            called = ast.unparse(node.func)
            if called == "DirectMessage" or (
                called.startswith("DirectMessage.objects.")
                and called.endswith((".create", ".bulk_create", ".get_or_create", ".update_or_create"))
            ):
                creators.append(f"{relative}: {called}")
    assert creators == [
        "chat/direct_writer.py: DirectMessage.objects.bulk_create",
        "chat/direct_writer.py: DirectMessage",
    ]
