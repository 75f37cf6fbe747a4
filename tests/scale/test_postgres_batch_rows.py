"""The writer's batch on PostgreSQL writes the search index's rows in its messages' ``INSERT`` statement
(``chat.message_signals.messages_inserting``): a plain batch holds its room's lock for that one statement and the
``COMMIT`` (and asks Redis nothing meanwhile), each message's search row is its own, and a batch the writer refuses
(a returned row that is not the post queued at its place) fails as a whole and leaves none of its rows, the search
rows included. Run in a process of its own on a fresh PostgreSQL database (``tests/scale/writer_probe.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.server import ROOT, ServerProcess
from tests.services import fresh_postgres_database, private_redis

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def probe(scenario: str) -> dict:
    with fresh_postgres_database() as database_url, private_redis() as redis:
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis.url, "CHATR_RATELIMITS": "off"}
        ServerProcess(env).migrate()
        env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}, **env}
        done = subprocess.run(
            [sys.executable, "-m", "tests.scale.writer_probe", scenario],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_plain_batch_writes_its_messages_and_their_search_rows_in_one_statement():
    result = probe("plain")
    plain = result["plain"]
    assert plain["errors"] == [] and len(plain["ids"]) == 6
    # One statement: the room's UPDATE (its lock), the tails, the messages and their search rows; then COMMIT.
    transaction = plain["statements"][plain["statements"].index("BEGIN") :]
    begin, statement, commit = transaction
    assert (begin, commit) == ("BEGIN", "COMMIT")
    assert 'UPDATE "chat_room"' in statement and 'INSERT INTO "chat_message"' in statement
    assert "INSERT INTO chat_message_search" in statement
    # Nor does it ask Redis anything while it holds the lock (the lobby has no webhooks: no subscribers' version
    # read): its only commands are the announce's after the commit, the versions' bump and the frames.
    assert set(plain["redis"]) == {"mset", "publish"}
    # With a mention the agents' rows are locked between the room's UPDATE and the INSERT: the search rows still
    # go in the INSERT's statement, and no statement of their own follows.
    mention = result["mention"]
    assert mention["errors"] == [] and len(mention["ids"]) == 2
    searches = [sql for sql in mention["statements"] if "chat_message_search" in sql]
    assert len(searches) == 1 and 'INSERT INTO "chat_message"' in searches[0]
    # Every message has one search row, holding its own words (two posts with the same text, accents folded).
    contents = {int(pk): text for pk, text in result["contents"].items()}
    indexed = {int(pk): own for pk, own in result["indexed"].items()}
    assert set(indexed) == set(contents) >= set(plain["ids"]) | set(mention["ids"])
    assert all(indexed.values())


def test_a_batch_whose_returned_row_is_not_its_post_fails_as_a_whole_and_leaves_no_row():
    result = probe("refused")
    # The writer cannot tell which post the wrong row belongs to: the batch fails as a whole, and its transaction
    # is rolled back with the search rows written in the same statement.
    assert result["outcomes"] == ["DatabaseError"] * 4
    assert result["contents"] == {} and result["indexed"] == {}
