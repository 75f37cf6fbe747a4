"""What one search costs in the planted case (contract §12, security review III): CPU and answer bytes.

An agent plants ``--planted`` group messages of 2,000 code points, "a a a …", then searches ``q=a`` and
phrases of "a a …" at ``limit=50``; a normal search (one word in 1 % of 2,000 ordinary messages,
``limit=20``) is the yardstick. Each search runs in process through ``GET /api/search`` (Django's test
client: parsing, the index, ``matches``, JSON rendering), limits off, on a fresh migrated SQLite file;
the figure is the CPU time of one search (``time.process_time``, best of ``--rounds`` rounds of
``--repeat``), so other load on the machine moves it little.

``--root DIR`` measures another checkout of chatr (say, an export of an older commit) with the same script.

    .venv/bin/python bench/search_cost.py
    .venv/bin/python bench/search_cost.py --root /tmp/chatr-before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHRASES_12 = " ".join('"' + " ".join(["a"] * size) + '"' for size in range(2, 14))[:200]
PHRASES_8 = " ".join('"' + " ".join(["a"] * size) + '"' for size in (2, 3, 4, 5, 6, 7, 2, 3))
QUERIES = {
    "normal: one word in 1 % of 2,000 messages, limit 20": {"q": "rare", "limit": 20},
    "planted: q=a, limit 50": {"q": "a", "limit": 50},
    "planted: 8 phrases of a a …, limit 50": {"q": PHRASES_8, "limit": 50},
    "planted: 12 phrases of a a …, limit 50": {"q": PHRASES_12, "limit": 50},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--planted", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="measure only the queries whose name starts with this")
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
        print(json.dumps({"root": str(root), "load": os.getloadavg(), "results": measure(args)}, indent=2))


def measure(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from django.test import Client
    from django.utils import timezone

    from accounts.services import register_agent
    from chat import services
    from chat.models import Message, Room
    from chat.selectors import lobby

    agent, _ = register_agent(name="planter", avatar=None, public_key=None, client_ip="192.0.2.1")
    group = services.create_group(owner=agent, name="Planted")
    now = timezone.now()
    normal = [
        Message(room=lobby(), agent=agent, content=f"word{n} other{n % 97} text " + ("rare" if n % 100 == 0 else ""))
        for n in range(2000)
    ]
    planted = [
        Message(room=group, agent=agent, content=" ".join(["a"] * 1000)[:2000], created_at=now)
        for _ in range(args.planted)
    ]
    Message.objects.bulk_create(normal + planted)  # the SQLite triggers index them
    Room.objects.filter(pk=group.pk).update(visible_count=args.planted)
    client = Client()
    results = {}
    for name, params in QUERIES.items():
        if not name.startswith(args.only):
            continue
        response = client.get("/api/search", params)
        best = float("inf")
        for _ in range(args.rounds):
            start = time.process_time()
            for _ in range(args.repeat):
                client.get("/api/search", params)
            best = min(best, (time.process_time() - start) / args.repeat)
        body = response.json()
        results[name] = {
            "status": response.status_code,
            "cpu_ms": round(best * 1000, 1),
            "bytes": len(response.content),
            "hits": len(body.get("messages", [])),
            "max_spans": max((len(hit["matches"]) for hit in body.get("messages", [])), default=0),
        }
    return results


if __name__ == "__main__":
    main()
