"""1 → 2 processes on PostgreSQL + Redis (issue 13, item 5): reads, posts and fan-out through one port.

Each run starts ``python -m chatr.run --processes P --workers 0`` (what ``make run-cluster`` starts: P servers
sharing one port with SO_REUSEPORT) on a fresh PostgreSQL database and a fresh Redis database, limits off, and
measures with the same tools as ``make bench`` (bench/compare.py): wrk on the lobby page, history and agents,
wrk posting with 200 agents' keys, and stream_load's readers for fan-out.

    .venv/bin/python bench/scaling.py                      # P = 1 then 2, ≈ 4 minutes
    .venv/bin/python bench/scaling.py --readers 1000 --rate 10 --seconds 15

``--posts`` measures only what one and two processes can post (issue 22: two processes ≥ 1.6× one): for each
round, P = 1 and 2 in turn (the order alternating), wrk posts with 50, 100 and 200 connections (``--connections``)
and the table gives each P's **capacity** — the most posts a second over the connection counts, i.e. once more
connections no longer add any — and 2 ÷ 1 per round. With 50 connections neither P is busy: a post's time is
mostly waiting (the writer's round trips, the ``COMMIT``'s WAL flush), and a closed loop of 50 posters is then
bound by that wait, not by the processes (docs/benchmarks.md). ≈ 80 s a round.

    .venv/bin/python bench/scaling.py --posts --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare

DATABASE_ADMIN = os.environ.get("CHATR_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("CHATR_BENCH_REDIS", "redis://127.0.0.1:6379")


class Cluster(compare.Target):
    name = "chatr-cluster"

    def __init__(self, workdir: Path, processes: int, database_url: str, redis_url: str) -> None:
        super().__init__(workdir)
        self.processes = processes
        self.database_url = database_url
        self.redis_url = redis_url

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        return {**env, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "CHATR_RATELIMITS": "off"}

    def command(self, seed_messages: int) -> list[str]:
        processes = ["--processes", str(self.processes), "--workers", "0"]
        return [sys.executable, "-m", "chatr.run", "--port", str(self.port), *processes]


def fresh_database() -> str:
    name = f"chatr_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DATABASE_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return DATABASE_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    with psycopg.connect(DATABASE_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@contextlib.contextmanager
def cluster(processes: int, workdir: Path) -> Iterator[Cluster]:
    """``processes`` servers through one port, started on a fresh migrated database and a flushed Redis database;
    stopped and the database dropped afterwards."""
    database_url, redis_url = fresh_database(), f"{REDIS_BASE}/15"
    redis.Redis.from_url(redis_url).flushdb()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=compare.ROOT,
        env={**env, "DATABASE_URL": database_url},
        check=True,
    )
    target = Cluster(workdir, processes, database_url, redis_url)
    try:
        target.start()
        yield target
    finally:
        target.stop()
        drop_database(database_url)


def measure(processes: int, args: argparse.Namespace, workdir: Path) -> dict:
    report: dict = {"processes": processes, "load_before": os.getloadavg()[0]}
    with cluster(processes, workdir) as target:
        keys = compare.populate(target.url, agents=200, messages=120)
        for name, path in compare.PAGES.items():
            report[name] = compare.wrk(target.url + path, args.wrk_seconds)
        post_env = {"CHATR_BENCH_KEYS": ",".join(keys)}
        report["post"] = compare.wrk(target.url, args.wrk_seconds, script="post.lua", env=post_env)
        target.stop()
        plan = compare.Plan(stream_seconds=args.seconds)
        report["fanout"] = compare.run_fanout(target, plan, args.readers, args.rate)
    report["load_after"] = os.getloadavg()[0]
    return report


def post_sweep(processes: int, args: argparse.Namespace, workdir: Path) -> dict:
    """Posts a second through one port at each of ``args.connections``, on a fresh database."""
    report: dict = {"processes": processes, "runs": []}
    with cluster(processes, workdir) as target:
        keys = compare.populate(target.url, agents=200, messages=0)
        post_env = {"CHATR_BENCH_KEYS": ",".join(keys)}
        compare.wrk(target.url, 3, script="post.lua", env=post_env)  # warm up: connections, caches
        for connections in args.connections:
            load, busy, wall = os.getloadavg()[0], psutil.cpu_times(), time.monotonic()
            result = compare.wrk(target.url, args.wrk_seconds, script="post.lua", env=post_env, connections=connections)
            after, elapsed = psutil.cpu_times(), time.monotonic() - wall
            idle = (after.idle - busy.idle) + (getattr(after, "iowait", 0) - getattr(busy, "iowait", 0))
            result.update(
                connections=connections,
                load_before=round(load, 2),
                machine_busy_percent=round(100 * (1 - idle / elapsed / (os.cpu_count() or 1)), 1),
            )
            report["runs"].append(result)
    report["capacity"] = max(run["rps"] for run in report["runs"])
    return report


def post_capacity(args: argparse.Namespace, workdir: Path) -> None:
    rounds = []
    for number in range(args.rounds):
        order = (1, 2) if number % 2 == 0 else (2, 1)
        measured = {processes: post_sweep(processes, args, workdir) for processes in order}
        ratio = measured[2]["capacity"] / measured[1]["capacity"]
        rounds.append({"one": measured[1], "two": measured[2], "ratio": ratio})
        print(f"round {number + 1}: ratio {rounds[-1]['ratio']:.2f}", flush=True)
    args.out.write_text(json.dumps(rounds, indent=2))
    header = " | ".join(f"{c} conn. 1 → 2" for c in args.connections)
    print(f"| round | {header} | capacity 1 → 2 | 2 ÷ 1 |\n|---|{'---|' * len(args.connections)}---|---|")
    for number, each in enumerate(rounds, 1):
        cells = " | ".join(
            f"{one['rps']:,.0f} → {two['rps']:,.0f}"
            for one, two in zip(each["one"]["runs"], each["two"]["runs"], strict=True)
        )
        capacity = f"{each['one']['capacity']:,.0f} → {each['two']['capacity']:,.0f}"
        print(f"| {number} | {cells} | {capacity} | {each['ratio']:.2f} |")
    print(f"median 2 ÷ 1: {statistics.median(each['ratio'] for each in rounds):.2f}")
    every = [run for each in rounds for side in ("one", "two") for run in each[side]["runs"]]
    print(
        f"p99 max {max(run['p99_ms'] for run in every)} ms; answers not 201: {sum(run['not_201'] for run in every)}; "
        f"load before runs {min(run['load_before'] for run in every)}–{max(run['load_before'] for run in every)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrk-seconds", type=float, default=8)
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--posts", action="store_true", help="only posts: each P's capacity over --connections")
    parser.add_argument("--connections", type=lambda text: [int(c) for c in text.split(",")], default=[50, 100, 200])
    parser.add_argument("--rounds", type=int, default=3, help="with --posts")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    workdir = Path(compare.tempfile.mkdtemp(prefix="chatr-scaling-"))
    if args.posts:
        args.out = args.out or compare.ROOT / "bench" / "results" / "scaling-posts.json"
        post_capacity(args, workdir)
        return
    args.out = args.out or compare.ROOT / "bench" / "results" / "scaling.json"
    results = [measure(processes, args, workdir) for processes in (1, 2)]
    args.out.write_text(json.dumps(results, indent=2))
    one, two = results
    print("| measure | 1 process | 2 processes | 2 ÷ 1 |\n|---|---|---|---|")
    for name in (*compare.PAGES, "post"):
        a, b = one[name]["rps"], two[name]["rps"]
        print(f"| {name} req/s | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")
    a, b = one["fanout"]["latency_ms"][99], two["fanout"]["latency_ms"][99]
    print(f"| fan-out {args.readers}×{args.rate:g} p99 ms | {a:,.1f} | {b:,.1f} | {b / a:.2f} |")
    print(f"load average: {one['load_before']:.1f} → {two['load_after']:.1f}")


if __name__ == "__main__":
    main()
