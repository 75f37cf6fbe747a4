"""The room writer's batches on PostgreSQL, in a process of their own (the suite's own database is SQLite):
``python -m tests.scale.writer_probe SCENARIO`` with ``DATABASE_URL`` set to a migrated database prints one JSON
object of what the batch did, for ``tests/scale/test_postgres_batch_rows.py``.

- ``plain``: a batch of plain posts (no key, no mention) and a batch with a mention, each written as a leader
  writes it; every statement each batch ran, and each message's search row against its own text.
- ``refused``: a trigger of the test's changes the text of posts that start with ``tamper``, so that the row the
  ``INSERT`` returns for such a post is not the post the writer queued; what each post got, and what is stored.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")
os.environ.setdefault("CHATR_RATELIMITS", "off")

import django
import redis

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts import services as account_services  # noqa: E402
from chat import mentions, selectors, writer  # noqa: E402
from chat.models import Message  # noqa: E402
from search.text import document  # noqa: E402

PLAIN = ["third", "first", "same words", "same words", "Café naïve", "last one"]


def batch(posts: list[tuple[object, str]]) -> list[writer._Entry]:
    lobby = selectors.lobby()
    for _, text in posts:  # read before the batch: the statements captured are the batch's own
        mentions.prepare(author=posts[0][0], room=lobby, content=text, reply_to=None)
    entries = [
        writer._Entry(
            writer.RoomPost(
                agent=agent,
                room=lobby,
                content=text,
                signature=None,
                signature_verified=False,
                conversation=mentions.prepare(author=agent, room=lobby, content=text, reply_to=None),
            )
        )
        for agent, text in posts
    ]
    writer._write_batch(entries)
    return entries


def indexed() -> dict[int, bool]:
    """Message id → whether its search row holds its own text's document, for every row of the index."""
    texts = dict(Message.objects.values_list("pk", "content"))
    found = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT message_id, document::text FROM chat_message_search ORDER BY message_id")
        rows = cursor.fetchall()
        for message_id, stored in rows:
            text = texts.get(message_id)
            if text is None:
                found[message_id] = False
                continue
            cursor.execute("SELECT to_tsvector('simple', %s)::text", [document(text)])
            found[message_id] = cursor.fetchone()[0] == stored
    return found


def agents(count: int) -> list[object]:
    return [
        account_services.register_agent(name=f"probe{n}", avatar=None, public_key=None, client_ip=f"192.0.2.{n}")[0]
        for n in range(count)
    ]


def redis_calls() -> Counter[str]:
    """Commands the Redis server (this probe's alone) has answered so far, by name."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return Counter()
    stats = redis.Redis.from_url(url).info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(each["calls"]) for name, each in stats.items()})


def plain() -> dict:
    authors = agents(3)
    batch([(authors[0], "warm-up")])  # the process's caches (lobby, webhook subscribers) filled before
    result: dict = {}
    for name, texts in (("plain", PLAIN), ("mention", ["hello @probe1", "and a plain one"])):
        calls = redis_calls()
        with CaptureQueriesContext(connection) as queries:
            entries = batch([(authors[n % 3], text) for n, text in enumerate(texts)])
        calls = redis_calls() - calls
        calls.pop("info", None)
        result[name] = {
            "errors": [repr(entry.error) for entry in entries if entry.error is not None],
            "ids": [entry.result.message.pk for entry in entries if entry.result and entry.result.message],
            "statements": [query["sql"] for query in queries.captured_queries],
            "redis": dict(calls),
        }
    result["indexed"] = indexed()
    result["contents"] = dict(Message.objects.values_list("pk", "content"))
    return result


def refused() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION probe_tamper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.content LIKE 'tamper%' THEN NEW.content := NEW.content || ' (changed)'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER probe_tamper BEFORE INSERT ON chat_message FOR EACH ROW EXECUTE FUNCTION probe_tamper()"
        )
    authors = agents(2)
    texts = ["one", "tamper with me", "two", "three"]
    entries = batch([(authors[n % 2], text) for n, text in enumerate(texts)])
    return {
        "outcomes": [
            type(entry.error).__name__ if entry.error is not None else entry.result.message.content for entry in entries
        ],
        "contents": dict(Message.objects.values_list("pk", "content")),
        "indexed": indexed(),
    }


if __name__ == "__main__":
    print(json.dumps({"plain": plain, "refused": refused}[sys.argv[1]](), default=str))
