"""Load tool for GET /api/stream: N readers, M stamped messages a second, delivery latency per (reader, message).

It starts its own server process (daphne or uvicorn, CHATR_RATELIMITS=off) on a fresh
SQLite file (or with --processes N, N of them on a fresh PostgreSQL database and Redis, readers and posts
spread over them), so it can watch their RSS and CPU. Readers are raw sockets, many per
process, that only look for the stamp in each frame: in Node (``bench/readers.js``, the default when ``node`` is
installed) or Python asyncio (``--readers-runtime python``); the load tool runs on the same 2 cores as the
server and says how much CPU the readers used themselves (a reader near a whole core is the bottleneck).

    .venv/bin/python bench/stream_load.py --server uvicorn --readers 1000 --rate 10 --seconds 30
    .venv/bin/python bench/stream_load.py --server daphne --readers 5000 --rate 0 --seconds 10   # idle RSS
    .venv/bin/python bench/stream_load.py --server uvicorn --seed-messages 1000000 --probe 200  # history latency
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import re
import resource
import select
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import ServerProcess

STAMP = re.compile(rb'"content":"s(\d+)"')
HISTORY = b'data: {"type":"history"'


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def open_reader(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    await reader.readuntil(HISTORY)
    return reader, writer


async def read_stamps(reader: asyncio.StreamReader, arrivals: list[tuple[int, float]], stop) -> None:
    tail = b""
    while time.monotonic() < stop.value:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=0.5)
        except TimeoutError:
            continue
        if not chunk:
            break
        now = time.monotonic()
        data = tail + chunk
        cut = data.rfind(b"\n\n") + 2
        for match in STAMP.finditer(data, 0, cut):
            arrivals.append((int(match.group(1)), now))
        tail = data[cut:]


def reader_process(ports: list[int], count: int, stop, ready, results) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        connections = []
        for start in range(0, count, 100):  # connect in waves: the server's accept queue is finite
            wave = range(start, min(start + 100, count))
            connections += await asyncio.gather(*(open_reader(ports[n % len(ports)]) for n in wave))
        ready.put(len(connections))
        arrivals = [[] for _ in connections]
        await asyncio.gather(
            *(read_stamps(reader, arrivals[index], stop) for index, (reader, _) in enumerate(connections))
        )
        cpu = time.process_time()
        for _, writer in connections:
            writer.close()
        results.put((arrivals, cpu))

    asyncio.run(main())


async def post_messages(
    ports: list[int], key: str, rate: float, seconds: float, sent: dict[int, float], ids: dict[int, int]
) -> int:
    """Open-loop posting at ``rate``/s over 4 keep-alive connections (spread over the servers)."""
    connections = [await asyncio.open_connection("127.0.0.1", ports[n % len(ports)]) for n in range(4)]
    free: asyncio.Queue = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)
    failures = 0

    async def post(seq: int) -> None:
        nonlocal failures
        reader, writer = await free.get()
        body = json.dumps({"content": f"s{seq}"}).encode()
        started = time.monotonic()
        writer.write(
            b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        body = await reader.readexactly(length)
        if head.startswith(b"HTTP/1.1 201"):
            sent[seq] = started
            ids[seq] = int(json.loads(body)["message"]["id"])
        else:
            failures += 1
        free.put_nowait((reader, writer))

    tasks = []
    begin = time.monotonic()
    for seq in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, begin + seq / rate - time.monotonic()))
        tasks.append(asyncio.create_task(post(seq)))
    await asyncio.gather(*tasks)
    for _, writer in connections:
        writer.close()
    return failures


def seed_messages(db: Path, agent_id: str, count: int) -> None:
    """Bulk-insert ``count`` lobby messages straight into the SQLite file (a benchmark fixture)."""
    connection = sqlite3.connect(db)
    agent = agent_id.replace("-", "")
    rows = ((f"seeded message {n}", agent) for n in range(count))
    connection.executemany(
        "INSERT INTO chat_message (room_id, agent_id, content, signature, signature_verified, created_at, hidden)"
        " VALUES ('lobby', ?2, ?1, NULL, 0, '2026-01-01 00:00:00', 0)",
        rows,
    )
    connection.execute("UPDATE chat_room SET visible_count = visible_count + ? WHERE id = 'lobby'", (count,))
    connection.commit()
    connection.close()


def probe_history(port: int, probes: int) -> list[float]:
    """Connect → history frame fully received, one connection after another."""

    async def main() -> list[float]:
        times = []
        for _ in range(probes):
            started = time.monotonic()
            reader, writer = await open_reader(port)
            await reader.readuntil(b"\n\n")
            times.append(time.monotonic() - started)
            writer.close()
        return times

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10, help="messages per second (0: idle readers)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--reader-procs", type=int, default=1)
    parser.add_argument(
        "--readers-runtime", choices=["node", "python"], help="the readers' runtime (default: node when installed)"
    )
    parser.add_argument("--seed-messages", type=int, default=0)
    parser.add_argument("--probe", type=int, default=0, help="connect → history probes")
    parser.add_argument("--profile", help="write a py-spy profile of the server during the run here")
    parser.add_argument(
        "--processes", type=int, default=1, help="N servers on PostgreSQL + Redis (readers and posts spread over them)"
    )
    args = parser.parse_args()

    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    workdir = Path(tempfile.mkdtemp(prefix="chatr-bench-"))
    db = workdir / "bench.sqlite3"
    with contextlib.ExitStack() as stack:
        if args.processes > 1:
            from tests.services import fresh_postgres_database, fresh_redis_db

            database_url = stack.enter_context(fresh_postgres_database())
            redis_url = stack.enter_context(fresh_redis_db())
            env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        else:
            env = {"CHATR_SQLITE_PATH": str(db)}
        env.update({"CHATR_RATELIMITS": "off", "CHATR_LOG_LEVEL": "ERROR"})
        servers = [ServerProcess(env, server=args.server) for _ in range(args.processes)]
        for index, server in enumerate(servers):
            server.log_path = workdir / f"server-{index}.log"
        servers[0].migrate()
        for server in servers:
            server.start()
        try:
            bench(args, servers, db)
        finally:
            for server in servers:
                server.stop()


def bench(args, servers: list[ServerProcess], db: Path) -> None:
    server = servers[0]
    agent = requests.post(f"{server.url}/api/register", json={"name": "bench"}, timeout=10).json()["agent"]
    if args.seed_messages:
        server.stop()
        started = time.monotonic()
        seed_messages(db, agent["id"], args.seed_messages)
        print(f"seeded {args.seed_messages} messages in {time.monotonic() - started:.1f} s", file=sys.stderr)
        server.start()
    processes = [psutil.Process(server.pid) for server in servers]
    report: dict = {
        "server": args.server,
        "processes": args.processes,
        "readers": args.readers,
        "rate": args.rate,
        "seconds": args.seconds,
    }
    report["loadavg_before"] = os.getloadavg()
    if args.probe:
        times = probe_history(server.port, args.probe)
        report["history_ms"] = {q: round(percentile(times, q) * 1000, 1) for q in (50, 90, 99)}
        report["history_ms"]["max"] = round(max(times) * 1000, 1)
    if args.readers:
        run_readers(args, servers, agent, processes, report)
    report["loadavg_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


def rss(processes: list[psutil.Process]) -> int:
    return sum(process.memory_info().rss for process in processes)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(process.cpu_times().user + process.cpu_times().system for process in processes)


class PythonReaders:
    """``count`` readers in ``procs`` forked Python processes (asyncio, uvloop when installed)."""

    runtime = "python"

    def __init__(self, ports: list[int], count: int, procs: int) -> None:
        context = multiprocessing.get_context("fork")
        self.ready, self.results = context.Queue(), context.Queue()
        self.stop_at = context.Value("d", time.monotonic() + 3600)
        share = [count // procs + (i < count % procs) for i in range(procs)]
        # Daemons: if the server fails mid-run, the tool exits instead of waiting on readers nobody collects.
        self.workers = [
            context.Process(target=reader_process, args=(ports, n, self.stop_at, self.ready, self.results), daemon=True)
            for n in share
        ]
        for worker in self.workers:
            worker.start()

    def wait_connected(self, budget: float) -> int:
        return sum(self.ready.get(timeout=budget) for _ in self.workers)

    def collect(self, grace: float) -> tuple[list[list[tuple[int, float]]], float]:
        """Stop reading ``grace`` seconds from now; every reader's (seq, monotonic time) and the readers' CPU."""
        self.stop_at.value = time.monotonic() + grace
        collected = [self.results.get(timeout=120) for _ in self.workers]
        for worker in self.workers:
            worker.join()
        return [arrivals for part, _ in collected for arrivals in part], sum(cpu for _, cpu in collected)


class NodeReaders:
    """``count`` readers in ``procs`` Node processes (``bench/readers.js``); their clock is CLOCK_MONOTONIC too."""

    runtime = "node"

    def __init__(self, ports: list[int], count: int, procs: int) -> None:
        script = str(Path(__file__).resolve().parent / "readers.js")
        share = [count // procs + (i < count % procs) for i in range(procs)]
        self.workers = [
            subprocess.Popen(
                ["node", script, "--ports", ",".join(map(str, ports)), "--readers", str(n)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for n in share
        ]

    def wait_connected(self, budget: float) -> int:
        connected = 0
        deadline = time.monotonic() + budget
        for worker in self.workers:
            assert worker.stdout is not None
            ready, _, _ = select.select([worker.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = worker.stdout.readline() if ready else b""
            if not line.startswith(b"ready "):
                self.kill()
                raise RuntimeError(f"node readers did not connect (exit {worker.poll()}, said {line!r})")
            connected += int(line.split()[1])
        return connected

    def collect(self, grace: float) -> tuple[list[list[tuple[int, float]]], float]:
        time.sleep(grace)
        arrivals: list[list[tuple[int, float]]] = []
        cpu = 0.0
        for worker in self.workers:
            output, _ = worker.communicate(timeout=120)  # closing stdin is the stop signal
            report = json.loads(output)
            cpu += report["cpu_seconds"]
            arrivals += [list(zip(flat[::2], flat[1::2], strict=True)) for flat in report["arrivals"]]
        return arrivals, cpu

    def kill(self) -> None:
        for worker in self.workers:
            worker.kill()
            worker.wait()


def default_runtime() -> str:
    """Node when it is installed: its readers are not the bottleneck (docs/benchmarks.md)."""
    return "node" if shutil.which("node") else "python"


def run_readers(args, servers: list[ServerProcess], agent: dict, processes: list[psutil.Process], report: dict) -> None:
    ports = [server.port for server in servers]
    server = servers[0]
    rss_before = rss(processes)
    connect_budget = 60 + args.readers / 20  # a slow server (50 connects/s or fewer) still gets its readers
    runtime = getattr(args, "readers_runtime", None) or default_runtime()
    pool = (NodeReaders if runtime == "node" else PythonReaders)(ports, args.readers, args.reader_procs)
    report["readers_runtime"] = pool.runtime
    report["reader_procs"] = args.reader_procs
    try:
        connected = pool.wait_connected(connect_budget)
    except BaseException:
        if isinstance(pool, NodeReaders):
            pool.kill()
        raise
    time.sleep(1)
    rss_idle = rss(processes)
    report["connected"] = connected
    report["rss_mb_before"] = round(rss_before / 2**20, 1)
    report["rss_kb_per_reader"] = round((rss_idle - rss_before) / 1024 / connected, 1)
    sent: dict[int, float] = {}
    ids: dict[int, int] = {}
    profiler = None
    if args.profile:
        command = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "-p",
            str(server.pid),
            "-d",
            str(int(args.seconds) - 2),
            "-o",
            args.profile,
        ]
        options = ["--format", "raw", "--gil", "--rate", "500", "--nonblocking"]  # the thread holding the GIL
        profiler = subprocess.Popen([*command, *options], stdout=subprocess.DEVNULL)
    cpu_before = cpu_seconds(processes)
    wall = time.monotonic()
    failures = (
        asyncio.run(post_messages(ports, agent["apiKey"], args.rate, args.seconds, sent, ids)) if args.rate else 0
    )
    if not args.rate:
        time.sleep(args.seconds)
    cpu_after = cpu_seconds(processes)
    elapsed = time.monotonic() - wall
    if profiler is not None:
        profiler.wait()
    report["server_cpu_percent"] = round(100 * (cpu_after - cpu_before) / elapsed, 1)  # all server processes
    report["rss_kb_per_reader_after_run"] = round((rss(processes) - rss_before) / 1024 / connected, 1)
    every_reader, readers_cpu = pool.collect(grace=2)  # the last deliveries' grace
    report["loadgen_cpu_seconds"] = round(readers_cpu, 1)
    if not args.rate:
        return
    latencies: list[float] = []
    gaps = duplicates = disorder = 0
    for arrivals in every_reader:
        seqs = [seq for seq, _ in arrivals]
        duplicates += len(seqs) - len(set(seqs))
        # Order by message id: with overlapping POSTs, ids need not follow the posting order.
        disorder += sum(1 for a, b in itertools.pairwise(seqs) if ids.get(b, 0) < ids.get(a, 0))
        got = {seq: at for seq, at in arrivals}
        gaps += sum(1 for seq in sent if seq not in got)
        latencies += [got[seq] - sent[seq] for seq in sent if seq in got]
    report["posted"] = len(sent)
    report["post_failures"] = failures
    report["deliveries"] = len(latencies)
    report["latency_ms"] = {q: round(percentile(latencies, q) * 1000, 1) for q in (50, 90, 99)}
    report["latency_ms"]["max"] = round(max(latencies) * 1000, 1) if latencies else None
    report["latency_ms"]["mean"] = round(statistics.fmean(latencies) * 1000, 1) if latencies else None
    report["gaps"], report["duplicates"], report["out_of_order"] = gaps, duplicates, disorder


if __name__ == "__main__":
    main()
