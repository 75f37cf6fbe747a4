"""CPU time of one message-creating POST inside one process, without sockets (issue 22's measure on a shared machine).

Drives ``chatr.asgi.application`` (the whole pipeline: body limit, edge, chain, writer, fan-out) with
``--concurrency`` coroutines, each posting in turn as one of several agents, on a fresh SQLite file with every
limit off, and prints the process's CPU time (``time.process_time``: every thread) per post, best of
``--rounds`` rounds. Wall time on a busy machine says little; CPU time per post says what a post costs.
``--kind`` chooses the POST: ``lobby`` (``/api/messages``), ``dm`` (``/ai/messages``, each agent to the next one)
or ``group`` (``/ai/groups/<id>/messages``, every agent a member of one group). With ``--conversation`` every round
runs twice, alternating: plain posts, then posts that @mention three agents and reply to a message (as ``make
bench``'s conversation post; lobby or group), and prints the second's cost ÷ the first's.

    .venv/bin/python bench/post_cpu.py --posts 2000 --concurrency 50 --rounds 3 --kind dm
    .venv/bin/python bench/post_cpu.py --posts 2000 --concurrency 50 --rounds 5 --conversation

``--db postgres`` runs it on a fresh PostgreSQL database and a fresh Redis database (``tests.services``: the
machine's servers, as ``make run-cluster`` uses them); PostgreSQL's and Redis's own CPU is not counted.

``--tree`` measures another checkout with this driver (before and after a change: two worktrees, the same
driver, in the same minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scope_of(key: str, body: bytes, path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


class Target:
    """Where a post goes and what it says, for the ``n``-th post."""

    def __init__(self, kind: str, ids: list[str], group: str | None, conversation: dict | None = None) -> None:
        self.kind, self.ids, self.conversation = kind, ids, conversation
        self.path = {"lobby": "/api/messages", "dm": "/ai/messages", "group": f"/ai/groups/{group}/messages"}[kind]

    def body(self, n: int) -> bytes:
        if self.kind == "dm":
            return json.dumps({"toAiId": self.ids[(n + 1) % len(self.ids)], "content": f"bench {n}"}).encode()
        if self.conversation is None:
            return json.dumps({"content": f"bench {n}"}).encode()
        talk = self.conversation
        return json.dumps({"content": f"{talk['mentions']} bench {n}", "replyTo": talk["reply_to"]}).encode()


async def post(application, key: str, n: int, statuses: list[int], target: Target) -> None:
    body = target.body(n)
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.Future()  # no disconnect while it is answered
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await application(scope_of(key, body, target.path), receive, send)


async def run(
    application, keys: list[str], posts: int, concurrency: int, target: Target
) -> tuple[float, float, list[int]]:
    statuses: list[int] = []
    counter = iter(range(posts))

    async def worker() -> None:
        for n in counter:
            await post(application, keys[n % len(keys)], n, statuses, target)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - cpu, time.perf_counter() - wall, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", choices=("lobby", "dm", "group"), default="lobby")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--conversation", action="store_true", help="also posts with 3 mentions and a reply")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.db == "postgres":
            sys.path.insert(0, str(ROOT))
            from tests.services import fresh_postgres_database, fresh_redis_db

            os.environ["DATABASE_URL"] = stack.enter_context(fresh_postgres_database())
            os.environ["REDIS_URL"] = stack.enter_context(fresh_redis_db())
            sys.path.remove(str(ROOT))
        measure_tree(args)


def measure_tree(args: argparse.Namespace) -> None:
    os.chdir(args.tree)
    sys.path.insert(0, str(args.tree.resolve()))

    workdir = tempfile.mkdtemp(prefix="chatr-post-cpu-")
    os.environ.update(
        {
            "CHATR_SQLITE_PATH": str(Path(workdir) / "bench.sqlite3"),
            "CHATR_RATELIMITS": "off",
            "CHATR_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "chatr.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.services import register_agent

    registered = [
        register_agent(name=f"cpu{n}", avatar=None, public_key=None, client_ip="127.0.0.1")
        for n in range(args.agents + 4)
    ]
    keys = [key for _, key in registered[: args.agents]]  # the last four are mentioned and replied to, never post
    group = None
    if args.kind == "group":
        from chat.services import create_group, join_group

        group = create_group(owner=registered[0][0], name="bench").pk
        for agent, _ in registered[1:]:
            join_group(agent=agent, group_id=group)
    ids = [str(agent.pk) for agent, _ in registered[: args.agents]]
    target = Target(args.kind, ids, group)
    conversation = None
    if args.conversation:
        from chat.selectors import get_group, lobby_ref
        from chat.services import post_room_message

        room = get_group(group_id=group) if group is not None else lobby_ref()
        answered = post_room_message(agent=registered[-1][0], room=room, content="the message every post answers")
        names = " ".join(f"@{agent.name}" for agent, _ in registered[-4:-1])
        conversation = Target(args.kind, ids, group, {"mentions": names, "reply_to": answered.pk})
    from chatr.asgi import application

    async def measure(kind: str, talk: Target) -> float:
        cpu, wall, statuses = await run(application, keys, args.posts, args.concurrency, talk)
        others = sum(status != 201 for status in statuses)
        print(
            f"{kind}: {args.posts} posts, {cpu / args.posts * 1e6:.0f} µs CPU/post, "
            f"{args.posts / wall:.0f} posts/s wall, not 201: {others}",
            flush=True,
        )
        return cpu / args.posts

    async def rounds() -> None:
        await run(application, keys, min(200, args.posts), args.concurrency, target)  # warm up: caches, connections
        if conversation is not None:
            await run(application, keys, min(200, args.posts), args.concurrency, conversation)
        ratios = []
        for number in range(args.rounds):
            plain = await measure(f"{args.kind} round {number + 1}", target)
            if conversation is not None:
                ratios.append(await measure(f"{args.kind} round {number + 1} conversation", conversation) / plain)
                print(f"round {number + 1} conversation ÷ plain: {ratios[-1]:.3f}", flush=True)
        if ratios:
            print(f"median conversation ÷ plain: {sorted(ratios)[len(ratios) // 2]:.3f}", flush=True)

    asyncio.run(rounds())


if __name__ == "__main__":
    main()
