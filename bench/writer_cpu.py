"""CPU time of a room post at the service level, in process: ``check_room_post`` + the group-commit writer (issue 22).

No HTTP, no sockets: ``--threads`` threads each post ``--posts`` messages to the lobby through
``chat.idempotency.post_once`` (an ``Idempotency-Key`` on each, as the benches' clients send) against a fresh
SQLite file (or ``DATABASE_URL``), so that posts meet in the writer's batches as they do under load. The figure
is ``time.process_time()`` of the whole process (every thread) divided by the posts, per kind, in rounds that
alternate the kinds (the median is reported):

- ``plain``: ``"agentA agentB agentC bench N"`` (three other agents' names, no ``@``),
- ``conversation``: ``"@agentA @agentB @agentC bench N"`` with ``replyTo`` a message of a fourth agent (three
  mentions and a reply: four notifications, four mention frames).

Compare two trees in the same minutes (write ``uptime`` next to the figures):

    .venv/bin/python bench/writer_cpu.py --rounds 5 --posts 400 --threads 8
    cd ../wt-before && .venv/bin/python ../wt-writer/bench/writer_cpu.py --rounds 5  # the code of that tree
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path.cwd()  # the tree under test: run from its root
sys.path.insert(0, str(ROOT))


def setup(workdir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")
    os.environ.setdefault("CHATR_SQLITE_PATH", str(Path(workdir) / "bench.sqlite3"))
    os.environ["CHATR_RATELIMITS"] = "off"
    os.environ.setdefault("CHATR_LOG_LEVEL", "ERROR")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--posts", type=int, default=400, help="posts per kind per round")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--profile", choices=["plain", "conversation"], help="cProfile one kind (each thread's CPU time), print the top"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        setup(workdir)
        run(args)


def run(args: argparse.Namespace) -> None:
    from django.db import connection

    from accounts import services as accounts
    from chat import idempotency, selectors, services
    from chatr import metrics

    lobby = selectors.lobby()
    posters = [
        accounts.register_agent(name=f"poster{i}", avatar=None, public_key=None, client_ip="127.0.0.1")[0]
        for i in range(args.threads)
    ]
    named = [
        accounts.register_agent(name=f"agent{c}", avatar=None, public_key=None, client_ip="127.0.0.1")[0] for c in "ABC"
    ]
    other = accounts.register_agent(name="agentD", avatar=None, public_key=None, client_ip="127.0.0.1")[0]
    target = services.post_room_message(agent=other, room=lobby, content="a message to answer")
    connection.close()

    def body(kind: str, n: int) -> tuple[str, int | None]:
        if kind == "plain":
            return f"agentA agentB agentC bench {n}", None
        return f"@agentA @agentB @agentC bench {n}", target.pk

    profiles: list[cProfile.Profile] = []

    def post_many(agent: object, kind: str, count: int, start: threading.Barrier) -> None:
        profiler = cProfile.Profile(time.thread_time) if profiling else None  # CPU of this thread only
        start.wait()
        if profiler is not None:
            profiles.append(profiler)
            profiler.enable()
        for n in range(count):
            content, reply_to = body(kind, n)
            idempotency.post_once(
                agent=agent,  # type: ignore[arg-type]
                key=uuid.uuid4().hex,
                fingerprint=uuid.uuid4().hex,
                check=lambda c=content, r=reply_to: services.check_room_post(
                    agent=agent,  # type: ignore[arg-type]
                    room=lobby,
                    content=c,
                    reply_to=r,
                ),
                answer=idempotency.message_answer,
            )
        if profiler is not None:
            profiler.disable()
        connection.close()

    def commits() -> tuple[float, float]:
        """``chatr_posts_per_commit``'s count and sum: the writer's transactions and the posts they held."""
        samples = {sample.name: sample.value for sample in metrics.POSTS_PER_COMMIT.collect()[0].samples}
        return samples["chatr_posts_per_commit_count"], samples["chatr_posts_per_commit_sum"]

    batches: dict[str, list[float]] = {"plain": [], "conversation": []}

    def one_round(kind: str) -> float:
        each = max(1, args.posts // args.threads)
        counted = commits()
        start = threading.Barrier(args.threads + 1)
        threads = [threading.Thread(target=post_many, args=(agent, kind, each, start)) for agent in posters]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.process_time()
        for thread in threads:
            thread.join()
        spent = time.process_time() - began
        after = commits()
        batches[kind].append((after[1] - counted[1]) / max(1.0, after[0] - counted[0]))
        return spent / (each * args.threads)

    del named
    profiling = False
    one_round("plain")  # warm up: caches, connections, the first statements
    one_round("conversation")
    if args.profile:
        profiling = True
        one_round(args.profile)
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.sort_stats("cumulative").print_stats(70)
        return
    figures: dict[str, list[float]] = {"plain": [], "conversation": []}
    for round_ in range(args.rounds):
        kinds = ["plain", "conversation"] if round_ % 2 == 0 else ["conversation", "plain"]
        for kind in kinds:
            figures[kind].append(one_round(kind))
    plain = statistics.median(figures["plain"])
    conversation = statistics.median(figures["conversation"])
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    for kind, values in figures.items():
        print(
            f"{kind:13s} CPU per post median {statistics.median(values) * 1e6:7.1f} µs  rounds "
            + " ".join(f"{v * 1e6:.0f}" for v in values)
        )
    print(f"conversation ÷ plain: {conversation / plain:.3f}")
    print("posts per commit (median): " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in batches.items()))


if __name__ == "__main__":
    main()
