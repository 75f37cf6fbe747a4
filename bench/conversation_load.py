"""What mentions and replies cost a post, and how fast a mention reaches the agent it addresses (issue 19).

Both scenarios run against one server process as ``make run`` serves it (``python -m chatr.serve``, a fresh
SQLite file, ``CHATR_RATELIMITS=off``), started by this tool.

``post``: 200 agents, each with one message to answer. Then ``wrk`` (``bench/conversation.lua``, ``-t1``,
``--connections``) posts for ``--seconds`` in each of three kinds, in rounds that rotate the order (round 1
plain → mentions → reply, round 2 mentions → reply → plain, …), all against the same server process:

- ``plain``: ``"agentA agentB agentC bench N"`` (three other agents' names, no ``@``),
- ``mentions``: ``"@agentA @agentB @agentC bench N"`` (three mentions: three notifications, three hub frames),
- ``reply``: the plain text with ``replyTo`` a message of another agent (one notification, the excerpt).

For each kind: req/s, p50/p99 (wrk's) and the server's CPU time per post (psutil), median over the rounds, and
the ratio of each to ``plain`` (cost = plain req/s ÷ kind req/s, and kind CPU per post ÷ plain CPU per post).

``delivery``: ``--stream-readers`` agents hold ``GET /api/mentions/stream`` open (raw asyncio sockets) and
``--mcp-waiters`` agents loop on the MCP tool ``wait_for_mentions`` (the ``mcp`` SDK's client:
``streamable_http_client`` + ``ClientSession``, each call resuming ``after`` the last feed id it got), each group
in a process of its own. A poster posts ``--rate`` messages a second (open loop, 4 keep-alive connections) for
``--seconds``, every message mentioning every waiting agent and stamped with its sequence number. Latency, per
(agent, message): arrival − the POST's start ("from POST", includes the post itself) and arrival − the 201's
arrival ("from 201"; negative when the frame beats the answer). ``time.monotonic`` is one clock for the
processes of one machine.

    .venv/bin/python bench/conversation_load.py post --rounds 3 --seconds 10
    .venv/bin/python bench/conversation_load.py delivery --rate 17 --seconds 60 --stream-readers 5 --mcp-waiters 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.server import ServerProcess  # noqa: E402

KINDS = ("plain", "mentions", "reply")
STAMP = re.compile(rb"zq(\d+)qz")
CPUINFO = Path("/proc/cpuinfo")
LUA = ROOT / "bench" / "conversation.lua"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def summary_ms(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q) * 1000, 2) for q in (50, 90, 99)} | {
        "max": round(max(values) * 1000, 2) if values else float("nan")
    }


def start_server(workdir: Path) -> ServerProcess:
    env = {"CHATR_SQLITE_PATH": str(workdir / "chatr.sqlite3"), "CHATR_RATELIMITS": "off", "CHATR_LOG_LEVEL": "ERROR"}
    for name in ("DATABASE_URL", "REDIS_URL"):  # one process on SQLite, as `make run`
        os.environ.pop(name, None)
    server = ServerProcess(env, server="uvicorn")
    server.log_path = workdir / "server.log"
    server.migrate()
    return server.start()


def register(base: str, name: str) -> dict:
    response = requests.post(f"{base}/api/register", json={"name": name}, timeout=30)
    response.raise_for_status()
    return response.json()["agent"]


def post(base: str, key: str, content: str) -> dict:
    response = requests.post(
        f"{base}/api/messages", headers={"Authorization": f"Bearer {key}"}, json={"content": content}, timeout=30
    )
    response.raise_for_status()
    return response.json()["message"]


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            "",
        ),
        "python": sys.version.split()[0],
    }


# --- post: plain vs mentions vs reply --------------------------------------------------------------------------


def wrk_kind(server: ServerProcess, env: dict[str, str], kind: str, connections: int, seconds: float) -> dict:
    process = psutil.Process(server.pid)
    cpu_before = sum(process.cpu_times()[:2])
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "-s",
            str(LUA),
            server.url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "CHATR_BENCH_KIND": kind},
        check=True,
    ).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    result["server_cpu_ms_per_post"] = round(1000 * cpu / max(1, result["requests"]), 3)
    result["loadavg"] = os.getloadavg()[0]
    return result


def profile(server: ServerProcess, env: dict[str, str], kind: str, args: argparse.Namespace, path: Path) -> None:
    """One more run of ``kind`` under py-spy (raw stacks of the thread holding the GIL), apart from the rounds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "-p", str(server.pid), "-o", str(path), "--format", "raw", "--nonblocking", "--gil"]
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    wrk_kind(server, env, kind, args.connections, args.seconds)
    profiler.send_signal(signal.SIGINT)
    profiler.wait()


def run_post(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="chatr-conversation-"))
    server = start_server(workdir)
    try:
        agents = [register(server.url, f"conv{number}") for number in range(args.agents)]
        targets = [post(server.url, agent["apiKey"], f"first words of {agent['name']}")["id"] for agent in agents]
        env = {
            "CHATR_BENCH_KEYS": ",".join(agent["apiKey"] for agent in agents),
            "CHATR_BENCH_NAMES": ",".join(agent["name"] for agent in agents),
            "CHATR_BENCH_TARGETS": ",".join(targets),
        }
        for kind in KINDS:  # warm up every path once
            wrk_kind(server, env, kind, args.connections, 2)
        rounds: list[dict[str, dict]] = []
        for number in range(args.rounds):
            order = KINDS[number % 3 :] + KINDS[: number % 3]
            rounds.append({kind: wrk_kind(server, env, kind, args.connections, args.seconds) for kind in order})
            print(json.dumps({kind: rounds[-1][kind]["rps"] for kind in KINDS}), file=sys.stderr)
        if args.profile:
            for kind in KINDS:
                profile(server, env, kind, args, Path(args.profile) / f"post-{kind}.txt")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report: dict = {"rounds": rounds, "median": {}, "ratio_to_plain": {}}
    for kind in KINDS:
        report["median"][kind] = {
            field: round(statistics.median(round_[kind][field] for round_ in rounds), 3)
            for field in ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_post")
        }
        report["median"][kind]["not_201"] = sum(round_[kind]["not_201"] for round_ in rounds)
    plain = report["median"]["plain"]
    for kind in ("mentions", "reply"):
        these = report["median"][kind]
        report["ratio_to_plain"][kind] = {
            "cost_by_rps": round(plain["rps"] / these["rps"], 3),
            "cost_by_cpu": round(these["server_cpu_ms_per_post"] / plain["server_cpu_ms_per_post"], 3),
            "p50": round(these["p50_ms"] / plain["p50_ms"], 3),
            "p99": round(these["p99_ms"] / plain["p99_ms"], 3),
        }
        # Per round too: the same minutes, so the machine's other load weighs on both alike.
        report["ratio_to_plain"][kind]["cost_by_rps_per_round"] = [
            round(round_["plain"]["rps"] / round_[kind]["rps"], 3) for round_ in rounds
        ]
    return report


# --- delivery: post → mention frame / wait_for_mentions answer ----------------------------------------------------


async def stream_reader(port: int, key: str, arrivals: dict[int, float], ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/mentions/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    ready.set()
    tail = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        now = time.monotonic()
        for match in STAMP.finditer(tail + chunk):  # a stamp may straddle two reads
            arrivals.setdefault(int(match.group(1)), now)
        tail = chunk[-24:]


def stream_readers_process(port: int, keys: list[str], seconds: float, started, results) -> None:
    async def main() -> list[dict[int, float]]:
        arrivals: list[dict[int, float]] = [{} for _ in keys]
        events = [asyncio.Event() for _ in keys]
        tasks = [asyncio.create_task(stream_reader(port, key, arrivals[n], events[n])) for n, key in enumerate(keys)]
        for event in events:
            await event.wait()
        started.set()
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        return arrivals

    results.put(("stream", asyncio.run(main())))


def mcp_waiters_process(base: str, keys: list[str], seconds: float, started, results) -> None:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def waiter(key: str, arrivals: dict[int, float], calls: list[int], ready: asyncio.Event, stop: float):
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(90)) as http,
            streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            # The feed's cursor now: every later mention comes after it.
            first = await session.call_tool("read_mentions", {"after": 0, "limit": 100})
            cursor = int(first.structured_content["cursor"] or 0)
            ready.set()
            while time.monotonic() < stop:
                result = await session.call_tool(
                    "wait_for_mentions",
                    {"after": cursor, "timeout_seconds": max(1, min(30, int(stop - time.monotonic())))},
                )
                now = time.monotonic()
                calls.append(1)
                answer = result.structured_content
                if result.is_error or not isinstance(answer, dict):
                    raise RuntimeError(f"wait_for_mentions failed: {result.content}")
                for item in answer["mentions"]:
                    match = STAMP.search(item["message"]["content"].encode())
                    if match:
                        arrivals.setdefault(int(match.group(1)), now)
                cursor = int(answer["cursor"])

    async def main() -> dict:
        arrivals: list[dict[int, float]] = [{} for _ in keys]
        calls: list[list[int]] = [[] for _ in keys]
        events = [asyncio.Event() for _ in keys]
        stop = time.monotonic() + seconds
        tasks = [asyncio.create_task(waiter(key, arrivals[n], calls[n], events[n], stop)) for n, key in enumerate(keys)]
        for event in events:
            await event.wait()
        started.set()
        await asyncio.gather(*tasks)
        return {"arrivals": arrivals, "calls": sum(len(made) for made in calls)}

    results.put(("mcp", asyncio.run(main())))


async def fixed_rate_poster(port: int, key: str, content: str, rate: float, seconds: float) -> dict[int, tuple]:
    """Open loop: post n starts at begin + n/rate on a free keep-alive connection; (start, 201 arrival, status)."""
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(4):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    times: dict[int, tuple] = {}

    async def one(seq: int, scheduled: float) -> None:
        reader, writer = await pool.get()
        body = json.dumps({"content": f"{content} zq{seq}qz"}).encode()
        started = time.monotonic()
        writer.write(
            b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        await reader.readexactly(length)
        times[seq] = (started, time.monotonic(), int(head[9:12]), started - scheduled)
        pool.put_nowait((reader, writer))

    tasks = []
    begin = time.monotonic() + 0.1
    for seq in range(int(rate * seconds)):
        scheduled = begin + seq / rate
        await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
        tasks.append(asyncio.create_task(one(seq, scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return times


def run_delivery(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="chatr-delivery-"))
    server = start_server(workdir)
    stream_count, mcp_count = args.stream_readers, args.mcp_waiters
    if not 0 < stream_count + mcp_count <= 10:
        raise SystemExit("a message mentions at most 10 agents: 1 to 10 waiting agents in all")
    try:
        poster = register(server.url, "poster")
        waiters = [register(server.url, f"waiter{number}") for number in range(stream_count + mcp_count)]
        content = " ".join(f"@{agent['name']}" for agent in waiters)
        process = psutil.Process(server.pid)
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        listen_seconds = args.seconds + 5
        children, ready = [], []
        if stream_count:
            event = context.Event()
            keys = [agent["apiKey"] for agent in waiters[:stream_count]]
            children.append(
                context.Process(target=stream_readers_process, args=(server.port, keys, listen_seconds, event, results))
            )
            ready.append(event)
        if mcp_count:
            event = context.Event()
            keys = [agent["apiKey"] for agent in waiters[stream_count:]]
            children.append(
                context.Process(target=mcp_waiters_process, args=(server.url, keys, listen_seconds, event, results))
            )
            ready.append(event)
        for child in children:
            child.start()
        for event in ready:
            if not event.wait(60):
                raise RuntimeError("the waiting agents did not get ready in 60 s")
        time.sleep(1)
        load_before = os.getloadavg()
        profiler = None
        if args.profile:
            spy = Path(sys.executable).parent / "py-spy"
            command = [str(spy), "record", "-p", str(server.pid), "-o", args.profile, "--format", "raw", "--gil"]
            profiler = subprocess.Popen(
                [*command, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        cpu_before, wall = sum(process.cpu_times()[:2]), time.monotonic()
        times = asyncio.run(fixed_rate_poster(server.port, poster["apiKey"], content, args.rate, args.seconds))
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait()
        server_cpu = round(100 * (sum(process.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall), 1)
        collected = dict(results.get(timeout=listen_seconds + 60) for _ in children)
        for child in children:
            child.join(timeout=30)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report: dict = {
        "rate": args.rate,
        "seconds": args.seconds,
        "posts": len(times),
        "posts_not_201": sum(1 for entry in times.values() if entry[2] != 201),
        "post_latency_ms": summary_ms([entry[1] - entry[0] for entry in times.values()]),
        "poster_late_ms_max": round(max(entry[3] for entry in times.values()) * 1000, 2),
        "server_cpu_percent": server_cpu,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    for name, count in (("stream", stream_count), ("mcp", mcp_count)):
        if not count:
            continue
        data = collected[name]
        arrivals = data["arrivals"] if name == "mcp" else data
        from_post, from_201, missing = [], [], 0
        for agent_arrivals in arrivals:
            for seq, (started, answered, _status, _late) in times.items():
                arrived = agent_arrivals.get(seq)
                if arrived is None:
                    missing += 1
                    continue
                from_post.append(arrived - started)
                from_201.append(arrived - answered)
        report[name] = {
            "agents": count,
            "deliveries": len(from_post),
            "missing": missing,
            "from_post_ms": summary_ms(from_post),
            "from_201_ms": summary_ms(from_201),
        }
        if name == "mcp":
            report[name]["tool_calls"] = data["calls"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="scenario", required=True)
    posting = commands.add_parser("post", help="plain vs mentions vs reply posts")
    posting.add_argument("--rounds", type=int, default=3)
    posting.add_argument("--seconds", type=float, default=10)
    posting.add_argument("--connections", type=int, default=16)
    posting.add_argument("--agents", type=int, default=200)
    posting.add_argument("--profile", help="a directory: one more run of each kind under py-spy, stacks there")
    delivery = commands.add_parser("delivery", help="post → mention frame / wait_for_mentions latency")
    delivery.add_argument("--rate", type=float, default=17, help="posts a second (17 ≈ 1,000 a minute)")
    delivery.add_argument("--seconds", type=float, default=60)
    delivery.add_argument("--stream-readers", type=int, default=5)
    delivery.add_argument("--mcp-waiters", type=int, default=5)
    delivery.add_argument("--profile", help="py-spy the server while the poster runs (raw stacks, --gil); write here")
    for command in (posting, delivery):
        command.add_argument("--output", help="also write the report (JSON) here")
    args = parser.parse_args()
    report = {
        "scenario": args.scenario,
        "command": " ".join(sys.argv),
        "machine": machine(),
        "loadavg_start": os.getloadavg(),
    }
    report |= run_post(args) if args.scenario == "post" else run_delivery(args)
    report["loadavg_end"] = os.getloadavg()
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
