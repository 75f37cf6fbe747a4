"""PostgreSQL's side of the two shapes of a writer's batch (a measurement script of this sitting, not a tool of the
project): the search rows in the messages' ``INSERT`` statement (a ``WITH`` item, ``messages_inserting``) or a
statement of their own after it (``search.index.add``, as before). A fresh database; N batches of B lobby posts,
the two shapes alternating, each batch written as the writer writes it; the backend's CPU (psutil) and the wall
time of each batch (BEGIN to COMMIT), the first 20 of each left out.

    .venv/bin/python bench/results/pglock-2026-12-05/statement_shapes.py 12 1000
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.server import ServerProcess
from tests.services import fresh_postgres_database


def main(size: int, batches: int) -> None:
    with fresh_postgres_database() as url:
        ServerProcess({"DATABASE_URL": url}).migrate()
        os.environ.update(
            DATABASE_URL=url, DJANGO_SETTINGS_MODULE="chatr.settings", CHATR_RATELIMITS="off", CHATR_LOG_LEVEL="WARNING"
        )
        import django

        django.setup()
        import psutil
        from django.db import connection

        from accounts.services import register_agent
        from chat import mentions, message_signals, selectors, writer
        from search import index

        agents = [
            register_agent(name=f"s{n}", avatar=None, public_key=None, client_ip="127.0.0.1")[0] for n in range(5)
        ]
        lobby = selectors.lobby()

        def posts(number: int) -> list[writer.RoomPost]:
            return [
                writer.RoomPost(
                    agent=agents[place % 5],
                    room=lobby,
                    content=f"bench message number {number} {place} with some words",
                    signature=None,
                    signature_verified=False,
                    conversation=mentions.NOTHING,
                )
                for place in range(size)
            ]

        def apart(*, sender: object, messages: list, **_: object) -> None:
            index.add(messages=messages)

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = psutil.Process(cursor.fetchone()[0])

        def cpu() -> float:
            times = backend.cpu_times()
            return times.user + times.system

        totals = {"with": [0.0, 0.0, 0], "apart": [0.0, 0.0, 0]}
        uid = "search.index.messages_inserting"
        for number in range(batches):
            for shape in ("with", "apart"):
                if shape == "apart":
                    message_signals.messages_inserting.disconnect(dispatch_uid=uid)
                    message_signals.messages_posted.connect(apart, weak=False, dispatch_uid="apart")
                entries = [writer._Entry(post) for post in posts(number)]
                cpu_before, wall_before = cpu(), time.perf_counter()
                writer._write_batch(entries)
                wall, spent = time.perf_counter() - wall_before, cpu() - cpu_before
                assert all(entry.error is None for entry in entries)
                if shape == "apart":
                    message_signals.messages_posted.disconnect(dispatch_uid="apart")
                    message_signals.messages_inserting.connect(index.messages_inserting, dispatch_uid=uid)
                if number >= 20:
                    totals[shape][0] += spent
                    totals[shape][1] += wall
                    totals[shape][2] += 1
        for shape, (spent, wall, count) in totals.items():
            print(
                f"{shape}: backend CPU {1e6 * spent / count / size:.1f} µs per post, "
                f"wall {1e6 * wall / count:.0f} µs per batch ({count} batches of {size})"
            )


main(int(sys.argv[1]), int(sys.argv[2]))
