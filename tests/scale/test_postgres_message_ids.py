"""One id space on PostgreSQL (chat.ids): two server processes posting to the lobby and sending DMs at once never
hand out one id twice, a recipient following its ``since`` cursor meanwhile misses nothing, and the migration's
move of the sequence puts every new id above the direct messages stored before."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.scale.tools import follow_cursor_while_writing
from tests.server import ROOT

pytestmark = [pytest.mark.services, pytest.mark.e2e]

WRITERS = 6
EACH = 15
OLD_DM_ID = 1_000_000


def test_posts_and_dms_of_two_processes_never_share_an_id(two_postgres_servers):
    servers = two_postgres_servers
    recipient = register(servers[0].url, "inbox")
    writers = [register(servers[index % 2].url, "ids") for index in range(WRITERS)]
    room_ids: list[str] = []
    direct_ids: list[str] = []

    def writer(index: int) -> Callable[[], None]:
        def write() -> None:
            base = servers[index % 2].url
            with requests.Session() as session:
                for n in range(EACH):
                    said = {"content": f"room {index}-{n}"}
                    posted = session.post(
                        f"{base}/api/messages", json=said, headers=headers(writers[index]), timeout=30
                    )
                    assert posted.status_code == 201, posted.text
                    room_ids.append(posted.json()["message"]["id"])
                    body = {"toAiId": recipient["id"], "content": f"dm {index}-{n}"}
                    sent = session.post(f"{base}/ai/messages", json=body, headers=headers(writers[index]), timeout=30)
                    assert sent.status_code == 201, sent.text
                    direct_ids.append(sent.json()["message"]["id"])

        return write

    def reader_of(base: str) -> Callable[[requests.Session, str], list[dict]]:
        def read_page(session: requests.Session, cursor: str) -> list[dict]:
            params = {"since": cursor, "limit": 100}
            return session.get(f"{base}/ai/messages", headers=headers(recipient), params=params, timeout=30).json()[
                "messages"
            ]

        return read_page

    seen = follow_cursor_while_writing(
        read_pages=[reader_of(server.url) for server in servers], writers=[writer(index) for index in range(WRITERS)]
    )
    assert len(room_ids) == len(direct_ids) == WRITERS * EACH
    assert not set(room_ids) & set(direct_ids)
    assert len(set(room_ids) | set(direct_ids)) == 2 * WRITERS * EACH
    assert sorted(seen, key=int) == seen and len(seen) == len(set(seen))
    assert set(seen) == set(direct_ids), "a reader following 'since' missed or invented direct messages"


MOVE = f"""
import importlib
from types import SimpleNamespace
from django.apps import apps
from django.db import connection
from accounts.models import Agent
from chat.models import DirectMessage

first, second = Agent.objects.order_by("created_at")[:2]
DirectMessage.objects.create(id={OLD_DM_ID}, sender=first, recipient=second, content="stored before")
migration = importlib.import_module("chat.migrations.0007_direct_message_ids")
migration.move_message_sequence(apps, SimpleNamespace(connection=connection))
migration.move_message_sequence(apps, SimpleNamespace(connection=connection))  # twice changes nothing
"""


def test_the_migration_moves_the_sequence_past_the_stored_dms(two_postgres_servers):
    server = two_postgres_servers[0]
    alice, bob = register(server.url, "old"), register(server.url, "old")
    posted = requests.post(f"{server.url}/api/messages", json={"content": "before"}, headers=headers(alice), timeout=10)
    assert int(posted.json()["message"]["id"]) < OLD_DM_ID
    subprocess.run([sys.executable, "manage.py", "shell", "-c", MOVE], cwd=ROOT, env=server.env, check=True)
    room = requests.post(f"{server.url}/api/messages", json={"content": "after"}, headers=headers(alice), timeout=10)
    body = {"toAiId": bob["id"], "content": "after"}
    direct = requests.post(f"{server.url}/ai/messages", json=body, headers=headers(alice), timeout=10)
    assert OLD_DM_ID + 1 == int(room.json()["message"]["id"]) < int(direct.json()["message"]["id"])
    inbox = requests.get(f"{server.url}/ai/messages", params={"since": 0}, headers=headers(bob), timeout=10)
    assert [message["content"] for message in inbox.json()["messages"]] == ["stored before", "after"]
