"""Search's own migration creates the index from zero, and takes over the one chat's old migration 0005 made,
on SQLite and PostgreSQL: real ``manage.py migrate`` runs on new databases."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.server import ROOT
from tests.services import fresh_postgres_database

FROZEN = importlib.import_module("search.migrations.0001_search_index")

# Posts two lobby messages, hides one, and prints what search finds for their shared word, then how many
# index entries the visible one has (1: indexed once).
PROBE = """
from accounts.services import register_agent
from accounts.models import Agent
from chat import selectors, services
from django.db import connection
from search.selectors import search_messages
name = "probe" + str(Agent.objects.count())
agent, _ = register_agent(name=name, avatar=None, public_key=None, client_ip="192.0.2.9")
Agent.objects.filter(pk=agent.pk).update(moltbook_verified=True)
agent.refresh_from_db()
for content in ("lobster migrated", "lobster hidden"):
    services.post_room_message(agent=agent, room=selectors.lobby(), content=content)
from chat.models import Message
Message.objects.filter(content="lobster hidden").update(hidden=True)
from search import index
index.remove(messages=list(Message.objects.filter(content="lobster hidden")))
print(sorted(hit.message.content for hit in search_messages(q="lobster").hits))
"""

COUNT = {
    "sqlite": "SELECT count(*) FROM chat_message_fts WHERE chat_message_fts MATCH 'lobster'",
    "postgresql": "SELECT count(*) FROM chat_message_search s JOIN chat_message m ON m.id = s.message_id "
    "WHERE m.content LIKE 'lobster%%'",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {**os.environ, "CHATR_RATELIMITS": "off", "DATABASE_URL": "", "CHATR_SQLITE_PATH": ""}
    if request.param == "sqlite":
        yield "sqlite", {**env, "CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3")}
        return
    with fresh_postgres_database() as url:
        yield "postgresql", {**env, "DATABASE_URL": url}


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def sql(env: dict[str, str], statement: str) -> str:
    return manage(
        env, "shell", "-v", "0", "-c", f"from django.db import connection\nc = connection.cursor()\n{statement}"
    )


def index_entries(vendor: str, env: dict[str, str]) -> int:
    return int(sql(env, f'c.execute("{COUNT[vendor]}"); print(c.fetchone()[0])').strip())


def test_from_zero_the_index_is_search_s_and_follows_posts_and_hides(database):
    vendor, env = database
    manage(env, "migrate", "--noinput", "-v", "0")
    assert "[X] 0001_search_index" in manage(env, "showmigrations", "search")
    assert manage(env, "shell", "-v", "0", "-c", PROBE).strip() == "['lobster migrated']"
    assert index_entries(vendor, env) == 1


def test_a_database_whose_index_chat_0005_made_keeps_it_whole(database):
    vendor, env = database
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "shell", "-v", "0", "-c", PROBE)
    # As a database migrated before search had migrations: the index exists (made by chat 0005 then,
    # with these very statements), and search's migration is not recorded as applied.
    manage(env, "migrate", "search", "zero", "--noinput", "-v", "0")
    statements = (
        [FROZEN.SQLITE_TABLE, *FROZEN.SQLITE_TRIGGERS, FROZEN.SQLITE_FILL]
        if vendor == "sqlite"
        else [FROZEN.POSTGRES_TABLE, FROZEN.POSTGRES_INDEX]
    )
    sql(env, "\n".join(f"c.execute({statement!r})" for statement in statements))
    if vendor == "postgresql":
        manage(
            env,
            "shell",
            "-c",
            "from search import index\nfrom chat.models import Message\n"
            "index.add(messages=list(Message.objects.filter(hidden=False)))",
        )
    assert index_entries(vendor, env) == 1
    manage(env, "migrate", "--noinput", "-v", "0")
    assert index_entries(vendor, env) == 1  # not indexed a second time
    assert manage(env, "shell", "-v", "0", "-c", PROBE).strip() == "['lobster migrated', 'lobster migrated']"
    assert index_entries(vendor, env) == 2
