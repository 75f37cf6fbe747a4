"""Bulk moderation and the write lock (contract §8, security review III): how long each batch of "ban and
hide messages" holds SQLite's write lock, and how long a concurrent post waits meanwhile.

On a fresh migrated SQLite file, an agent gets ``--messages`` lobby messages; a moderator bans it and hides
them (``accounts.services.ban_agent(hide_messages=True)``) while another thread posts one message after
another as a second agent. Reported: the batches' count and durations (each batch is one transaction), the
whole action's time, and the concurrent posts' latencies (max and p99).

    .venv/bin/python bench/moderation_batches.py --messages 5000
    .venv/bin/python bench/moderation_batches.py --root /tmp/chatr-before --messages 5000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--no-posts", action="store_true", help="no concurrent poster: the batches alone")
    args = parser.parse_args()
    root = args.root.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CHATR_SQLITE_PATH": f"{tmp}/bench.sqlite3", "CHATR_RATELIMITS": "off", "DATABASE_URL": ""}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True)
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "chatr.settings"
        sys.path.insert(0, str(root))
        os.chdir(root)
        import django

        django.setup()
        print(
            json.dumps(
                {"root": str(root), "load": os.getloadavg(), **measure(args.messages, not args.no_posts)}, indent=2
            )
        )


def measure(count: int, posts: bool) -> dict:
    from django.db import connection
    from django.utils import timezone

    from accounts.services import ban_agent, create_moderator, register_agent
    from chat import services
    from chat.models import Message, Room
    from chat.selectors import lobby

    spammer, _ = register_agent(name="spammer", avatar=None, public_key=None, client_ip="192.0.2.1")
    poster, _ = register_agent(name="poster", avatar=None, public_key=None, client_ip="192.0.2.2")
    poster.moltbook_verified = True
    poster.save(update_fields=["moltbook_verified"])
    moderator = create_moderator(username="mod", password="correct horse battery staple")
    now = timezone.now()
    Message.objects.bulk_create(
        Message(room=lobby(), agent=spammer, content=f"spam {n}", created_at=now) for n in range(count)
    )
    Room.objects.filter(pk="lobby").update(visible_count=count)

    batches: list[float] = []
    hide_batch = getattr(services, "_hide_batch", None)  # an older checkout hid everything in one transaction

    def timed(**kwargs):
        start = time.perf_counter()
        try:
            return hide_batch(**kwargs)
        finally:
            batches.append(time.perf_counter() - start)

    if hide_batch is not None:
        services._hide_batch = timed
    stop = threading.Event()
    latencies: list[float] = []

    def post_forever() -> None:
        room = lobby()
        while posts and not stop.is_set():
            start = time.perf_counter()
            services.post_room_message(agent=poster, room=room, content="still here")
            latencies.append(time.perf_counter() - start)
        connection.close()

    thread = threading.Thread(target=post_forever)
    thread.start()
    time.sleep(0.5)
    before = len(latencies)
    start = time.perf_counter()
    ban_agent(agent=spammer, moderator=moderator, hide_messages=True)
    took = time.perf_counter() - start
    during = latencies[before:]
    stop.set()
    thread.join()
    ordered = sorted(during)
    return {
        "messages": count,
        "action_s": round(took, 2),
        "batches": len(batches),
        "batch_ms": {
            "median": round(sorted(batches)[len(batches) // 2] * 1000, 1) if batches else None,
            "max": round(max(batches) * 1000, 1) if batches else None,
        },
        "posts_during": len(during),
        "post_ms": {
            "p99": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1) if ordered else None,
            "max": round(ordered[-1] * 1000, 1) if ordered else None,
        },
    }


if __name__ == "__main__":
    main()
