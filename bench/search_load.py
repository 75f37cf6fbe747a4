"""Search latency over a large history (contract §12, issue 19): ``GET /api/search`` on SQLite FTS5 and
on PostgreSQL full text, and the index's size beside the messages table's.

It bulk-loads ``--messages`` lobby messages into a fresh database (migrated by ``manage.py migrate``, so
the real index: FTS5 triggers fill SQLite's, the same folded documents the service writes fill
PostgreSQL's), starts one uvicorn process with every limit off, and asks one query after another over a
keep-alive connection: a one-word query matching 1 % of the messages (one of 20 such words, in turn),
``limit=20``, first page. Each message is 8 words from a 5,000-word vocabulary; message n also holds
rare word n % 100 when that is below 20, so each rare word is in 1 % of the messages. The same queries
are then timed in-process through ``search.selectors.search_messages`` (the service without HTTP).

    .venv/bin/python bench/search_load.py --db sqlite
    .venv/bin/python bench/search_load.py --db postgres --messages 1000000 --requests 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.server import ServerProcess  # noqa: E402
from tests.services import fresh_postgres_database  # noqa: E402

VOCABULARY = 5000
RARE_WORDS = [f"rare{index:02d}" for index in range(20)]
WORDS_PER_MESSAGE = 8
BATCH = 20_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def contents(count: int, *, seed: int = 19):
    """Message texts; message n holds ``RARE_WORDS[n % 100]`` when n % 100 < 20 (each word in 1 %)."""
    rng = random.Random(seed)
    vocabulary = [f"w{index}" for index in range(VOCABULARY)]
    for number in range(count):
        words = rng.choices(vocabulary, k=WORDS_PER_MESSAGE)
        if number % 100 < len(RARE_WORDS):
            words[rng.randrange(WORDS_PER_MESSAGE)] = RARE_WORDS[number % 100]
        yield " ".join(words)


def register(base: str) -> dict:
    response = requests.post(f"{base}/api/register", json={"name": f"bench{uuid.uuid4().hex[:8]}"}, timeout=10)
    response.raise_for_status()
    return response.json()["agent"]


def load_sqlite(path: Path, agent_id: str, count: int) -> None:
    connection = sqlite3.connect(path)
    agent = agent_id.replace("-", "")
    rows = ((text, agent) for text in contents(count))
    connection.executemany(
        "INSERT INTO chat_message (room_id, agent_id, content, signature, signature_verified, created_at, hidden)"
        " VALUES ('lobby', ?2, ?1, NULL, 0, '2026-01-01 00:00:00', 0)",
        rows,
    )
    connection.execute("UPDATE chat_room SET visible_count = visible_count + ? WHERE id = 'lobby'", (count,))
    connection.commit()
    connection.execute("INSERT INTO chat_message_fts(chat_message_fts) VALUES ('optimize')")
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


def sqlite_sizes(path: Path) -> dict[str, int]:
    connection = sqlite3.connect(path)
    rows = connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    connection.close()
    sizes = dict(rows)
    messages = sum(size for name, size in sizes.items() if name == "chat_message" or name.startswith("message_"))
    index = sum(size for name, size in sizes.items() if name.startswith("chat_message_fts"))
    return {"messages_table_bytes": messages, "index_bytes": index}


def load_postgres(url: str, agent_id: str, count: int) -> None:
    import psycopg

    from search.text import document

    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        with cursor.copy(
            "COPY chat_message (room_id, agent_id, content, signature_verified, created_at, hidden, mentions) "
            "FROM STDIN"
        ) as copy:
            for text in contents(count):
                copy.write_row(("lobby", agent_id, text, False, "2026-01-01 00:00:00+00", False, "[]"))
        cursor.execute("UPDATE chat_room SET visible_count = visible_count + %s WHERE id = 'lobby'", (count,))
        connection.commit()
        cursor.execute("SELECT id, content FROM chat_message ORDER BY id")
        rows = cursor.fetchall()
        with cursor.copy("COPY chat_message_search (message_id, room_id, agent_id, document) FROM STDIN") as copy:
            for pk, text in rows:
                copy.write_row((pk, "lobby", agent_id, document(text)))
        connection.commit()
        # COPY sends the document as text: turn it into the tsvector the service writes.
        cursor.execute("UPDATE chat_message_search SET document = to_tsvector('simple', document::text)")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (FULL, ANALYZE) chat_message_search")
        connection.execute("VACUUM ANALYZE chat_message")


def postgres_sizes(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as connection:
        messages = connection.execute("SELECT pg_total_relation_size('chat_message')").fetchone()[0]
        index = connection.execute("SELECT pg_total_relation_size('chat_message_search')").fetchone()[0]
        gin = connection.execute("SELECT pg_relation_size('chat_message_search_document_idx')").fetchone()[0]
    return {"messages_table_bytes": messages, "index_bytes": index, "gin_bytes": gin}


def measure(base: str, requests_count: int) -> dict:
    session = requests.Session()
    latencies, hits = [], []
    for number in range(requests_count + 20):
        word = RARE_WORDS[number % len(RARE_WORDS)]
        started = time.perf_counter()
        response = session.get(f"{base}/api/search", params={"q": word, "limit": 20}, timeout=30)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if number >= 20:  # the first round warms the caches
            latencies.append(elapsed)
            hits.append(len(response.json()["messages"]))
    return {
        "requests": len(latencies),
        "hits_per_page": min(hits),
        "latency_ms": {q: round(percentile(latencies, q) * 1000, 2) for q in (50, 90, 99)}
        | {"max": round(max(latencies) * 1000, 2)},
    }


def measure_service(env: dict[str, str], requests_count: int) -> dict:
    """The same queries through the search service in this process: the database's share of the time."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatr.settings"
    import django

    django.setup()
    from django.db import connection

    from search.selectors import search_messages

    latencies = []
    for number in range(requests_count + 20):
        started = time.perf_counter()
        search_messages(q=RARE_WORDS[number % len(RARE_WORDS)], limit=20)
        if number >= 20:
            latencies.append(time.perf_counter() - started)
    connection.close()
    return {q: round(percentile(latencies, q) * 1000, 2) for q in (50, 90, 99)} | {
        "max": round(max(latencies) * 1000, 2)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    env = {"CHATR_RATELIMITS": "off"}
    report: dict = {"db": args.db, "messages": args.messages, "query": "one word matching 1 %, limit=20"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            path = Path(tmp) / "chatr.sqlite3"
            server = ServerProcess({**env, "CHATR_SQLITE_PATH": str(path)}, server="uvicorn")
            server.migrate()
            run(server, args, report, load=lambda agent: load_sqlite(path, agent, args.messages))
            report |= sqlite_sizes(path)
            report["service_ms"] = measure_service({"CHATR_SQLITE_PATH": str(path)}, args.requests)
        else:
            with fresh_postgres_database() as url:
                server = ServerProcess({**env, "DATABASE_URL": url}, server="uvicorn")
                server.migrate()
                run(server, args, report, load=lambda agent: load_postgres(url, agent, args.messages))
                report |= postgres_sizes(url)
                report["service_ms"] = measure_service({"DATABASE_URL": url}, args.requests)
    report["index_to_table"] = round(report["index_bytes"] / report["messages_table_bytes"], 3)
    report["loadavg"] = os.getloadavg()
    print(json.dumps(report, indent=1))


def run(server: ServerProcess, args: argparse.Namespace, report: dict, *, load) -> None:
    server.start()
    try:
        agent = register(server.url)
    finally:
        server.stop()
    started = time.monotonic()
    load(agent["id"])
    report["load_seconds"] = round(time.monotonic() - started, 1)
    print(f"loaded {args.messages} messages in {report['load_seconds']} s", file=sys.stderr)
    server.start()
    try:
        report |= measure(server.url, args.requests)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
