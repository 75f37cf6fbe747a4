"""Search latency over a large history (contract §12, issue 19): ``GET /api/search`` on SQLite FTS5 and
on PostgreSQL full text, and the index's size beside the messages table's.

It bulk-loads ``--messages`` lobby messages into a fresh database (migrated by ``manage.py migrate``, so
the real index: FTS5 triggers fill SQLite's, the same folded documents the service writes fill
PostgreSQL's), starts one uvicorn process with every limit off, and asks one query after another over a
keep-alive connection: a one-word query matching 1 % of the messages (one of 20 such words, in turn),
``limit=20``, first page. Each message is 8 words from a 5,000-word vocabulary; message n also holds
rare word n % 100 when that is below 20, so each rare word is in 1 % of the messages. The same queries
are then timed in-process through ``search.selectors.search_messages`` (the service without HTTP).

``--connections 1,4`` measures with 1 then 4 concurrent keep-alive connections (each a thread asking one
query after another): at 1 the latency of one search, at 4 with some queueing on the 2 cores. Loading a
million messages takes minutes: ``--keep DIR`` keeps the SQLite file there (or, for PostgreSQL, names
the database ``chatr_bench_search`` and does not drop it) and a later run with the same ``--keep``
reuses it instead of loading again. ``--profile FILE`` first runs one more measurement at 1 connection
with py-spy (raw, ``--gil``) on the server, apart from the reported ones.

    .venv/bin/python bench/search_load.py --db sqlite
    .venv/bin/python bench/search_load.py --db postgres --messages 1000000 --requests 1000
    .venv/bin/python bench/search_load.py --db sqlite --keep /tmp/search-1m --connections 1,4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.server import ServerProcess  # noqa: E402
from tests.services import POSTGRES_URL, fresh_postgres_database  # noqa: E402

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


def measure(base: str, requests_count: int, connections: int = 1) -> dict:
    """``requests_count`` searches over ``connections`` keep-alive connections asking one after another."""
    latencies: list[float] = []
    hits: list[int] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        session = requests.Session()
        share = requests_count // connections
        for number in range(share + 20):
            word = RARE_WORDS[(offset + number) % len(RARE_WORDS)]
            started = time.perf_counter()
            response = session.get(f"{base}/api/search", params={"q": word, "limit": 20}, timeout=30)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if number >= 20:  # the first round warms the caches
                with lock:
                    latencies.append(elapsed)
                    hits.append(len(response.json()["messages"]))

    threads = [threading.Thread(target=client, args=(index * 7,)) for index in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "connections": connections,
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "hits_per_page": min(hits),
        "latency_ms": {q: round(percentile(latencies, q) * 1000, 2) for q in (50, 90, 99)}
        | {"max": round(max(latencies) * 1000, 2)},
        "loadavg": os.getloadavg(),
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


@contextlib.contextmanager
def postgres_database(keep: bool):
    if not keep:
        with fresh_postgres_database() as url:
            yield url
        return
    import psycopg

    name = "chatr_bench_search"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


def stored_messages(env: dict[str, str]) -> int:
    code = "from chat.models import Message; print(Message.objects.count())"
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", default="1", help="comma-separated: one measurement per count")
    parser.add_argument("--keep", help="keep (and reuse) the loaded database: a directory for SQLite's file")
    parser.add_argument("--profile", help="py-spy an extra measurement at 1 connection; write raw stacks here")
    args = parser.parse_args()
    args.connections = [int(count) for count in args.connections.split(",")]
    env = {"CHATR_RATELIMITS": "off"}
    report: dict = {
        "db": args.db,
        "messages": args.messages,
        "query": "one word matching 1 %, limit=20",
        "command": " ".join(sys.argv),
        "cpus": os.cpu_count(),
    }
    with contextlib.ExitStack() as stack:
        if args.db == "sqlite":
            folder = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "chatr.sqlite3"
            db_env = {"CHATR_SQLITE_PATH": str(path)}
            load = lambda agent: load_sqlite(path, agent, args.messages)  # noqa: E731
        else:
            url = stack.enter_context(postgres_database(bool(args.keep)))
            db_env = {"DATABASE_URL": url}
            load = lambda agent: load_postgres(url, agent, args.messages)  # noqa: E731
        server = ServerProcess({**env, **db_env}, server="uvicorn")
        server.migrate()
        if stored_messages(db_env) < args.messages:
            prepare(server, report, args.messages, load=load)
        report |= sqlite_sizes(path) if args.db == "sqlite" else postgres_sizes(url)
        server.start()
        try:
            if args.profile:
                profiler = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(server.pid),
                     "-o", args.profile, "--format", "raw", "--nonblocking", "--gil"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(1)
                report["profiled"] = measure(server.url, args.requests, 1)
                profiler.send_signal(signal.SIGINT)
                profiler.wait()
            report["http"] = []
            for connections in args.connections:
                report["http"].append(measure(server.url, args.requests, connections))
                print(json.dumps(report["http"][-1]), file=sys.stderr)
        finally:
            server.stop()
        report["service_ms"] = measure_service(db_env, args.requests)
    report["index_to_table"] = round(report["index_bytes"] / report["messages_table_bytes"], 3)
    report["loadavg"] = os.getloadavg()
    print(json.dumps(report, indent=1))


def prepare(server: ServerProcess, report: dict, count: int, *, load) -> None:
    server.start()
    try:
        agent = register(server.url)
    finally:
        server.stop()
    started = time.monotonic()
    load(agent["id"])
    report["load_seconds"] = round(time.monotonic() - started, 1)
    print(f"loaded {count} messages in {report['load_seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
