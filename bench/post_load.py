"""Load tool for POST /api/messages: throughput (wrk, closed loop) and latency at a fixed rate (open loop).

It starts its own uvicorn server processes with every limit off (``CHATR_RATELIMITS=off``): one on a
fresh SQLite file, or N on a fresh PostgreSQL database sharing a fresh Redis database, on consecutive
ports. Agents post to the lobby in turn (one room: every post takes the same room lock).

    .venv/bin/python bench/post_load.py --db sqlite --processes 1
    .venv/bin/python bench/post_load.py --db postgres --processes 2
    .venv/bin/python bench/post_load.py --db postgres --processes 1 --profile /tmp/post.txt
    .venv/bin/python bench/post_load.py --db postgres --processes 2 --account   # where the time and CPU go

Throughput: one ``wrk`` per server process (``--connections`` split over them), for ``--seconds``.
Latency: ``--rate`` requests/s spread over the processes, each measured from its scheduled start (so a
slow server cannot hide queueing), over keep-alive connections from an asyncio client.

``--account`` (PostgreSQL) adds, for the throughput run: each server process's CPU, the chatr database's backends'
CPU apart from PostgreSQL's other processes, the posts each commit stored (messages inserted ÷ the lobby row's
updates, from PostgreSQL's table statistics: one update a batch), and what the writing backends were doing, sampled
from ``pg_stat_activity`` every few milliseconds: waiting for the lobby row's lock, running a statement (or its
``COMMIT``'s WAL flush), or holding the lock while idle in their transaction (waiting for the server process's next
statement: its round trip and its Python work between statements).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.server import ServerProcess  # noqa: E402
from tests.services import fresh_postgres_database, fresh_redis_db  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(process.cpu_times()[:2]) for process in processes)


def service_cpu(name: str) -> dict[int, float]:
    """CPU seconds of every process of a service (``postgres``, ``redis-server``) by pid, now."""
    found = {}
    for process in psutil.process_iter(["name", "cpu_times"]):
        if process.info["name"] == name and process.info["cpu_times"] is not None:
            found[process.pid] = sum(process.info["cpu_times"][:2])
    return found


def service_cpu_since(name: str, before: dict[int, float]) -> float:
    """CPU seconds a service spent since ``before`` (a backend that exited meanwhile is not counted)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in service_cpu(name).items())


def children_cpu() -> float:
    """CPU seconds of this process's children that have exited (each ``wrk`` once it is reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float:
    """CPU seconds every core spent on anything but idling, since boot (other work on the machine included)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Accounting:
    """``--account``: the database's side of a run (see the module's docstring), from a connection of its own."""

    def __init__(self, database_url: str, interval: float = 0.004) -> None:
        import psycopg

        self.connection = psycopg.connect(database_url, autocommit=True)
        self.interval = interval
        self.states: Counter[str] = Counter()
        self.samples = 0
        self.waiting_sum = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.backend_cpu: dict[int, float] = {}
        self.counts: tuple[int, int] = (0, 0)

    def backends(self) -> list[int]:
        rows = self.connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        return [pid for (pid,) in rows]

    def table_counts(self) -> tuple[int, int]:
        """(messages inserted, lobby row updates) so far, as PostgreSQL's statistics have them."""
        self.connection.execute("SELECT pg_stat_clear_snapshot()")
        row = self.connection.execute(
            "SELECT (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'chat_message'), "
            "(SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'chat_room')"
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    def start(self) -> None:
        self.backend_cpu = {pid: seconds for pid, seconds in service_cpu("postgres").items() if pid in self.backends()}
        self.counts = self.table_counts()
        self._thread.start()

    def _sample(self) -> None:
        query = (
            "SELECT state, wait_event_type, wait_event, backend_xid IS NOT NULL FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        while not self._stop.wait(self.interval):
            waiting = 0
            for state, wait_type, wait_event, writing in self.connection.execute(query).fetchall():
                if wait_type == "Lock":
                    kind = "waiting for a lock"
                    waiting += 1
                elif state == "idle in transaction":
                    kind = "idle in a transaction (lock held)" if writing else "idle in a transaction (no write yet)"
                elif state == "active":
                    kind = f"running, {'holding the lock' if writing else 'no write yet'}" + (
                        f" (wait {wait_type}/{wait_event})" if wait_type else ""
                    )
                else:
                    kind = state or "unknown"
                self.states[kind] += 1
            self.samples += 1
            self.waiting_sum += waiting

    def stop(self, posts: int) -> dict:
        self._stop.set()
        self._thread.join()
        now = {pid: seconds for pid, seconds in service_cpu("postgres").items()}
        mine = sum(now[pid] - before for pid, before in self.backend_cpu.items() if pid in now)
        time.sleep(1.5)  # backends report their table statistics at most once a second, when idle
        inserted, updates = (after - before for after, before in zip(self.table_counts(), self.counts, strict=True))
        per_sample = {kind: round(count / max(1, self.samples), 3) for kind, count in self.states.most_common()}
        return {
            "chatr_backends_cpu_us_per_post": round(1e6 * mine / max(1, posts)),
            "posts_per_commit": round(inserted / max(1, updates), 2),
            "commits": updates,
            "samples": self.samples,
            "backends_by_state_mean": per_sample,
            "waiting_for_lock_mean": round(self.waiting_sum / max(1, self.samples), 3),
        }


def run_wrk(servers: list[ServerProcess], keys: list[str], connections: int, seconds: float) -> list[dict]:
    share = max(1, connections // len(servers))
    env = {**os.environ, "CHATR_BENCH_KEYS": ",".join(keys)}
    runs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{share}", f"-d{int(seconds)}s", "-s", str(ROOT / "bench/post.lua"), server.url],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for server in servers
    ]
    results = []
    for run in runs:
        out, _ = run.communicate()
        results.append(json.loads(next(line for line in out.splitlines() if line.startswith("{"))))
    return results


async def fixed_rate(servers: list[ServerProcess], keys: list[str], rate: float, seconds: float) -> dict:
    """Open loop: request n starts at begin + n/rate on a free keep-alive connection of its server."""
    pools: list[asyncio.Queue] = []
    for server in servers:
        pool: asyncio.Queue = asyncio.Queue()
        for _ in range(32):
            pool.put_nowait(await asyncio.open_connection("127.0.0.1", server.port))
        pools.append(pool)
    latencies: list[float] = []
    failures = 0

    async def post(n: int, scheduled: float) -> None:
        nonlocal failures
        pool = pools[n % len(pools)]
        reader, writer = await pool.get()
        body = json.dumps({"content": f"fixed {n}"}).encode()
        writer.write(
            b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {keys[n % len(keys)]}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        await reader.readexactly(length)
        latencies.append(time.monotonic() - scheduled)
        if not head.startswith(b"HTTP/1.1 201"):
            failures += 1
        pool.put_nowait((reader, writer))

    tasks = []
    begin = time.monotonic() + 0.1
    for n in range(int(rate * seconds)):
        scheduled = begin + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
        tasks.append(asyncio.create_task(post(n, scheduled)))
    await asyncio.gather(*tasks)
    for pool in pools:
        while not pool.empty():
            pool.get_nowait()[1].close()
    result = {q: round(percentile(latencies, q) * 1000, 2) for q in (50, 90, 99)}
    return {
        "requests": len(latencies),
        "failures": failures,
        "latency_ms": {**{f"p{q}": v for q, v in result.items()}, "max": round(max(latencies) * 1000, 2)},
    }


@contextlib.contextmanager
def database(kind: str, workdir: Path):
    if kind == "sqlite":
        yield {"CHATR_SQLITE_PATH": str(workdir / "bench.sqlite3")}
        return
    with fresh_postgres_database() as database_url, fresh_redis_db() as redis_url:
        yield {"DATABASE_URL": database_url, "REDIS_URL": redis_url}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=200, help="requests/s of the latency run (0: skip it)")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--profile", help="py-spy the first server during the throughput run; write here")
    parser.add_argument("--profile-idle", action="store_true", help="profile every thread's waits too, not CPU")
    parser.add_argument("--account", action="store_true", help="PostgreSQL: where the run's time and CPU went")
    args = parser.parse_args()
    if args.db == "sqlite" and args.processes != 1:
        parser.error("SQLite serves one process; use --db postgres for several")

    workdir = Path(tempfile.mkdtemp(prefix="chatr-post-bench-"))
    with database(args.db, workdir) as db_env:
        env = {**db_env, "CHATR_RATELIMITS": "off"}
        first = ServerProcess(env, server="uvicorn")
        first.migrate()
        servers = [first] + [ServerProcess(env, server="uvicorn") for _ in range(args.processes - 1)]
        for index, server in enumerate(servers):
            server.log_path = workdir / f"server-{index}.log"
            server.start()
        try:
            keys = [
                requests.post(f"{servers[0].url}/api/register", json={"name": f"bench{n}"}, timeout=10).json()["agent"][
                    "apiKey"
                ]
                for n in range(args.agents)
            ]
            processes = [psutil.Process(server.pid) for server in servers]
            report: dict = {
                "db": args.db,
                "processes": args.processes,
                "connections": args.connections,
                "seconds": args.seconds,
                "cpus": os.cpu_count(),
                "loadavg_before": os.getloadavg(),
            }
            run_wrk(servers, keys, args.connections, 3)  # warm up: pools, caches, JIT of nothing
            profiler = None
            if args.profile:
                profiler = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(servers[0].pid),
                        "-d", str(int(args.seconds) - 1), "-o", args.profile,
                        # samples of the thread holding the GIL (CPU); --idle: every thread, waits included
                        "--format", "raw", "--nonblocking", "--idle" if args.profile_idle else "--gil", "-r", "500",
                    ],
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
            accounting = Accounting(db_env["DATABASE_URL"]) if args.account and args.db == "postgres" else None
            if accounting is not None:
                accounting.start()
            each_cpu = [cpu_seconds([process]) for process in processes]
            cpu, wall = cpu_seconds(processes), time.monotonic()
            services = {name: service_cpu(name) for name in ("postgres", "redis-server")}
            wrk_cpu, busy = children_cpu(), machine_busy()
            per_process = run_wrk(servers, keys, args.connections, args.seconds)
            elapsed = time.monotonic() - wall
            wrk_cpu, busy = children_cpu() - wrk_cpu, machine_busy() - busy
            server_cpu = cpu_seconds(processes) - cpu
            each_cpu = [cpu_seconds([process]) - before for process, before in zip(processes, each_cpu, strict=True)]
            posts = sum(run["requests"] for run in per_process)
            report["throughput"] = {
                "rps": round(sum(run["rps"] for run in per_process), 1),
                "p50_ms": max(run["p50_ms"] for run in per_process),
                "p99_ms": max(run["p99_ms"] for run in per_process),
                "non_2xx": sum(run["non_2xx"] for run in per_process),
                "socket_errors": sum(run["socket_errors"] for run in per_process),
                "server_cpu_percent": round(100 * server_cpu / elapsed, 1),
                "server_cpu_us_per_post": round(1e6 * server_cpu / max(1, posts)),
                **{
                    f"{name}_cpu_us_per_post": round(1e6 * service_cpu_since(name, before) / max(1, posts))
                    for name, before in services.items()
                },
                "wrk_cpu_us_per_post": round(1e6 * wrk_cpu / max(1, posts)),
                # everything the machine's cores did, other work than this run's included: the cores' share left
                "machine_cpu_us_per_post": round(1e6 * busy / max(1, posts)),
                "machine_busy_percent": round(100 * busy / elapsed / (os.cpu_count() or 1), 1),
                "per_process": per_process,
                "server_cpu_us_per_post_each": [round(1e6 * seconds / max(1, posts)) for seconds in each_cpu],
            }
            if accounting is not None:
                report["throughput"]["account"] = accounting.stop(posts)
            if profiler is not None:
                profiler.wait()
            if args.rate:
                cpu, wall = cpu_seconds(processes), time.monotonic()
                report["fixed_rate"] = {"rate": args.rate, **asyncio.run(fixed_rate(servers, keys, args.rate, 15))}
                report["fixed_rate"]["server_cpu_percent"] = round(
                    100 * (cpu_seconds(processes) - cpu) / (time.monotonic() - wall), 1
                )
            report["loadavg_after"] = os.getloadavg()
            print(json.dumps(report, indent=1))
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
