"""1 → 2 processes on PostgreSQL + Redis (issue 13, item 5): reads, posts and fan-out through one port.

Each run starts ``python -m chatr.run --processes P --workers 0`` (what ``make run-cluster`` starts: P servers
sharing one port with SO_REUSEPORT) on a fresh PostgreSQL database and a fresh Redis database, limits off, and
measures with the same tools as ``make bench`` (bench/compare.py): wrk on the lobby page, history and agents,
wrk posting with 200 agents' keys, and stream_load's readers for fan-out.

    .venv/bin/python bench/scaling.py                      # P = 1 then 2, ≈ 4 minutes
    .venv/bin/python bench/scaling.py --readers 1000 --rate 10 --seconds 15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

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


def measure(processes: int, args: argparse.Namespace, workdir: Path) -> dict:
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
    report: dict = {"processes": processes, "load_before": os.getloadavg()[0]}
    try:
        target.start()
        keys = compare.populate(target.url, agents=200, messages=120)
        for name, path in compare.PAGES.items():
            report[name] = compare.wrk(target.url + path, args.wrk_seconds)
        post_env = {"CHATR_BENCH_KEYS": ",".join(keys)}
        report["post"] = compare.wrk(target.url, args.wrk_seconds, script="post.lua", env=post_env)
        target.stop()
        plan = compare.Plan(stream_seconds=args.seconds)
        report["fanout"] = compare.run_fanout(target, plan, args.readers, args.rate)
    finally:
        target.stop()
        drop_database(database_url)
    report["load_after"] = os.getloadavg()[0]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrk-seconds", type=float, default=8)
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--out", type=Path, default=compare.ROOT / "bench" / "results" / "scaling.json")
    args = parser.parse_args()
    workdir = Path(compare.tempfile.mkdtemp(prefix="chatr-scaling-"))
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
