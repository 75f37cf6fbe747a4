"""``make bench``: every target of issue 13, measured on chatr and on the in-memory Node reference, in one sitting.

Absolute figures on a shared 2-core machine swing 2× from run to run; the ratio chatr ÷ reference, measured
minutes apart with the same load generators, does not. So each scenario runs on a fresh chatr (as ``make run``
serves it: ``python -m chatr.serve``, SQLite, ``CHATR_RATELIMITS=off``) and on a fresh reference
(``node bench/reference/server.js``), alternating (round 1 chatr first, round 2 the reference first), and the
table gives both figures and the ratio, with the 1-minute load average before and after.

    bench/run_all.sh                      # everything, 2 rounds (≈ 20 minutes on a quiet machine)
    bench/run_all.sh --quick              # a smoke run of everything (≈ 3–4 minutes), results in bench/results/quick/
    bench/run_all.sh --only storm,post    # some scenarios: pages post fanout (= the three below) fanout-1000x10
                                          # fanout-2000x20 fanout-5000x2 history storm

Scenarios: ``pages`` (wrk, 50 connections: ``GET /`` with 120 messages, ``/api/messages?limit=50``,
``/api/agents`` with 50 agents online, ``/health``), ``post`` (wrk, 50 connections, 200 agents' keys, every
answer checked for 201), ``fanout-RxM`` (R readers, M stamped messages a second: delivery latency, gaps,
duplicates; the 5,000-reader run also gives the RSS per idle reader), ``history`` (connect → ``history`` frame
with 1,000,000 messages stored) and ``storm`` (1,000 viewers connect at once to a lobby of 120 messages: time
until each has its ``history`` frame; then 10 messages a second: delivery latency to those viewers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
import stream_load  # noqa: E402  (the readers, the stamped poster and the 1M seeding are shared with it)

HISTORY = stream_load.HISTORY
percentile = stream_load.percentile


# --- The two servers -------------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Target:
    """A server process on a free port, started fresh for every run and talked to only over HTTP/SSE."""

    name = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / f"{self.name}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self, seed_messages: int) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, *, seed_messages: int = 0) -> Target:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(seed_messages), cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early, see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer in 60 s, see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def start_with_messages(self, count: int) -> dict:
        """Start with ``count`` lobby messages stored; return the agent who wrote them."""
        raise NotImplementedError


class Chatr(Target):
    """``python -m chatr.serve`` (what ``make run`` serves) on a fresh SQLite file copied from a migrated template."""

    name = "chatr"

    def __init__(self, workdir: Path, template: Path, extra_env: dict[str, str]) -> None:
        super().__init__(workdir)
        self.db = workdir / f"chatr-{self.port}.sqlite3"
        shutil.copyfile(template, self.db)
        self.extra_env = extra_env

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHATR_SQLITE_PATH": str(self.db), "CHATR_RATELIMITS": "off"}
        for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):  # one process on SQLite, as `make run`
            env.pop(name, None)
        return {**env, **self.extra_env}

    def command(self, seed_messages: int) -> list[str]:
        host, port = "127.0.0.1", str(self.port)
        return [sys.executable, "-m", "chatr.serve", "--host", host, "--port", port, "--no-access-log"]

    def start_with_messages(self, count: int) -> dict:
        self.start()
        agent = register(self.url, "seeder")
        self.stop()
        stream_load.seed_messages(self.db, agent["id"], count)  # straight into the file while the server is down
        self.start()
        return agent


class Reference(Target):
    """``node bench/reference/server.js``: Node's http module, everything in memory."""

    name = "reference"

    def command(self, seed_messages: int) -> list[str]:
        script = str(BENCH / "reference" / "server.js")
        return ["node", script, "--port", str(self.port), "--seed-messages", str(seed_messages)]

    def start_with_messages(self, count: int) -> dict:
        self.start(seed_messages=count)
        return register(self.url, "prober")


def migrated_template(workdir: Path) -> Path:
    """Migrate one SQLite file once; every chatr run starts from a copy (migrating costs seconds)."""
    template = workdir / "template.sqlite3"
    env = {**os.environ, "CHATR_SQLITE_PATH": str(template)}
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    connection = sqlite3.connect(template)  # fold the WAL into the file, so that copying the file is enough
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return template


def register(url: str, name: str, session: requests.Session | None = None) -> dict:
    answer = (session or requests).post(f"{url}/api/register", json={"name": name}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["agent"]


def post(url: str, key: str, content: str, session: requests.Session) -> None:
    answer = session.post(
        f"{url}/api/messages", json={"content": content}, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 201, answer.text


def populate(url: str, *, agents: int, messages: int) -> list[str]:
    """``agents`` agents (online), ``messages`` lobby messages written by them in turn; returns their keys."""
    with requests.Session() as session:
        keys = [register(url, f"agent{n:03d}", session)["apiKey"] for n in range(agents)]
        for n in range(messages):
            post(url, keys[n % len(keys)], f"message {n} from the bench <of> & 'lobby'", session)
    return keys


# --- Measurements ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def wrk(url: str, seconds: float, *, connections: int = 50, script: str = "get.lua", env: dict | None = None) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    run = subprocess.run(
        [*command, "-s", str(BENCH / script), url],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=seconds + 60,
        check=True,
    )
    return json.loads(next(line for line in run.stdout.splitlines() if line.startswith("{")))


def settle(pid: int, *, idle_percent: float = 10, longest: float = 60) -> float:
    """Wait until the server is idle: wrk leaves up to 50 requests in flight, and a slow server goes on working
    through them after wrk is gone, which the next measurement would pay for. Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < longest:
        cpu = cpu_seconds(pid)
        time.sleep(0.25)
        if 100 * (cpu_seconds(pid) - cpu) / 0.25 < idle_percent:
            break
    return round(time.monotonic() - began, 2)


def measured_wrk(target: Target, path: str, seconds: float, warmup: float, **options) -> dict:
    settled = settle(target.pid)
    if warmup:
        wrk(target.url + path, warmup, **options)
        settled += settle(target.pid)
    cpu, wall = cpu_seconds(target.pid), time.monotonic()
    result = wrk(target.url + path, seconds, **options)
    result["server_cpu_percent"] = round(100 * (cpu_seconds(target.pid) - cpu) / (time.monotonic() - wall), 1)
    result["settle_seconds"] = settled
    return result


PAGES = {"lobby": "/", "messages": "/api/messages?limit=50", "agents": "/api/agents", "health": "/health"}


def run_pages(target: Target, plan: Plan) -> dict:
    target.start()
    populate(target.url, agents=50, messages=120)
    page = requests.get(target.url + "/", timeout=30)
    report: dict = {"lobby_page_bytes": len(page.content), "lobby_page_messages": page.text.count('class="msg"')}
    for name, path in PAGES.items():
        report[name] = measured_wrk(target, path, plan.wrk_seconds, plan.warmup)
    return report


def run_post(target: Target, plan: Plan) -> dict:
    """Plain posts, then posts that @mention three agents and reply to a message, on the same server."""
    target.start()
    keys = populate(target.url, agents=200, messages=0)
    env = {"CHATR_BENCH_KEYS": ",".join(keys)}
    report = {}
    result = measured_wrk(target, "", plan.wrk_seconds, plan.warmup, script="post.lua", env=env)
    result["agents"] = len(keys)
    result["all_201"] = result["not_201"] == 0 and result["socket_errors"] == 0
    report["post"] = result
    with requests.Session() as session:
        answer = session.post(
            f"{target.url}/api/messages",
            json={"content": "the message every conversation post replies to"},
            headers={"Authorization": f"Bearer {keys[0]}"},
            timeout=30,
        )
    assert answer.status_code == 201, answer.text
    conversation = {
        **env,
        "CHATR_BENCH_MENTIONS": "agent197,agent198,agent199",
        "CHATR_BENCH_REPLY_TO": answer.json()["message"]["id"],
    }
    result = measured_wrk(target, "", plan.wrk_seconds, plan.warmup, script="post.lua", env=conversation)
    result["all_201"] = result["not_201"] == 0 and result["socket_errors"] == 0
    report["post_conversation"] = result
    report["conversation_cost"] = round(report["post"]["rps"] / result["rps"], 3) if result["rps"] else None
    return report


def run_fanout(target: Target, plan: Plan, readers: int, rate: float) -> dict:
    """stream_load's readers and stamped poster, pointed at this target."""
    target.start()
    agent = register(target.url, "poster")
    args = SimpleNamespace(
        readers=readers,
        rate=rate,
        seconds=plan.stream_seconds,
        reader_procs=plan.reader_procs,
        readers_runtime=plan.readers_runtime or stream_load.default_runtime(),
        profile=None,
    )
    report: dict = {"readers": readers, "rate": rate, "seconds": plan.stream_seconds}
    stream_load.run_readers(args, [target], agent, [psutil.Process(target.pid)], report)
    return report


def run_history(target: Target, plan: Plan) -> dict:
    started = time.monotonic()
    target.start_with_messages(plan.history_messages)
    report: dict = {"stored": plan.history_messages, "seed_and_start_seconds": round(time.monotonic() - started, 1)}
    report["rss_mb"] = round(psutil.Process(target.pid).memory_info().rss / 2**20, 1)
    stream_load.probe_history(target.port, 10)  # warm up: first connects pay imports and caches
    times = stream_load.probe_history(target.port, plan.history_probes)
    report["probes"] = plan.history_probes
    report["history_ms"] = summary_ms(times)
    return report


def summary_ms(seconds: list[float]) -> dict:
    if not seconds:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    result = {f"p{q}": round(percentile(seconds, q) * 1000, 1) for q in (50, 90, 99)}
    result["max"] = round(max(seconds) * 1000, 1)
    return result


# The storm: every viewer connects at the same instant; the clock (CLOCK_MONOTONIC) is shared by the processes.


async def storm_viewer(port: int, start_at: float) -> tuple[float, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    await reader.readuntil(HISTORY)
    await reader.readuntil(b"\n\n")
    return time.monotonic() - start_at, reader, writer


def storm_process(port: int, viewers: int, patience: float, start_at: float, stop, ready, results) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(storm_viewer(port, start_at), patience) for _ in range(viewers)), return_exceptions=True
        )
        connected = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
        errors = sorted({type(outcome).__name__ for outcome in outcomes if isinstance(outcome, BaseException)})
        ready.put(([took for took, _, _ in connected], errors))
        arrivals: list[list[tuple[int, float]]] = [[] for _ in connected]
        await asyncio.gather(
            *(stream_load.read_stamps(reader, arrivals[n], stop) for n, (_, reader, _) in enumerate(connected))
        )
        for _, _, writer in connected:
            writer.close()
        results.put(arrivals)

    asyncio.run(main())


def run_storm(target: Target, plan: Plan) -> dict:
    target.start()
    populate(target.url, agents=5, messages=120)
    poster = register(target.url, "storm-poster")
    context = multiprocessing.get_context("fork")
    ready, results = context.Queue(), context.Queue()
    stop = context.Value("d", time.monotonic() + 3600)
    start_at = time.monotonic() + 1.0  # the child is forked and its loop running by then
    viewers = context.Process(
        target=storm_process,
        args=(target.port, plan.storm_viewers, plan.storm_patience, start_at, stop, ready, results),
        daemon=True,  # if the server fails mid-run, the tool exits instead of waiting on viewers nobody collects
    )
    viewers.start()
    took, errors = ready.get(timeout=plan.storm_patience + 60)
    report: dict = {
        "viewers": plan.storm_viewers,
        "with_history": len(took),
        "connect_errors": errors,
        "all_history_ms": summary_ms(took),
        "rate": plan.storm_rate,
        "seconds": plan.storm_seconds,
    }
    time.sleep(0.5)
    sent: dict[int, float] = {}
    ids: dict[int, int] = {}
    ports = [target.port]
    report["post_failures"] = asyncio.run(
        stream_load.post_messages(ports, poster["apiKey"], plan.storm_rate, plan.storm_seconds, sent, ids)
    )
    stop.value = time.monotonic() + plan.storm_grace  # a backlogged server delivers late: late is not lost
    arrivals = results.get(timeout=120 + plan.storm_grace)
    viewers.join()
    latencies: list[float] = []
    gaps = duplicates = 0
    for got_list in arrivals:
        got = dict(got_list)
        duplicates += len(got_list) - len(got)
        gaps += sum(1 for seq in sent if seq not in got)
        latencies += [got[seq] - sent[seq] for seq in sent if seq in got]
    report.update(posted=len(sent), deliveries=len(latencies), gaps=gaps, duplicates=duplicates)
    report["delivery_ms"] = summary_ms(latencies)
    return report


# --- Plan, scenarios and the table -------------------------------------------------------------------------------


@dataclass
class Plan:
    rounds: int = 2
    wrk_seconds: float = 10
    warmup: float = 2
    stream_seconds: float = 15
    reader_procs: int = 1
    readers_runtime: str = ""  # the fan-out readers: node (the default when installed) or python
    history_messages: int = 1_000_000
    history_probes: int = 200
    storm_viewers: int = 1000
    storm_rate: float = 10
    storm_seconds: float = 10
    storm_grace: float = 10
    storm_patience: float = 60  # a viewer still without its history after this long gives up (and counts)
    readers_scale: float = 1.0  # the fan-out scenarios' reader counts are multiplied by this

    @classmethod
    def quick(cls) -> Plan:
        """Everything once, short and at a fifth of the size: proves the tools work, measures nothing to quote."""
        return cls(
            rounds=1,
            wrk_seconds=3,
            warmup=1,
            stream_seconds=5,
            history_messages=100_000,
            history_probes=30,
            storm_viewers=200,
            storm_seconds=5,
            storm_grace=5,
            storm_patience=30,
            readers_scale=0.2,
        )

    @property
    def full_size(self) -> bool:
        """Whether the issue's targets apply: the sizes they were written for."""
        return self.readers_scale == 1 and self.history_messages == 1_000_000 and self.storm_viewers == 1000


@dataclass
class Row:
    """One line of the table: where its figure is in a run's report, and the issue's target for chatr."""

    label: str
    target: str
    pick: Callable[[dict], float | None]
    unit: str  # "rps", "ms", "KB", "count"
    meets: Callable[[float], bool] | None = None


def at(*path: str) -> Callable[[dict], float | None]:
    def pick(report: dict) -> float | None:
        value = report
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    return pick


def faults(report: dict) -> float | None:
    """Gaps + duplicates + failed posts: 0 is the target."""
    if "gaps" not in report:
        return None
    return report["gaps"] + report["duplicates"] + report.get("post_failures", 0)


def page_rows(name: str, path: str, floor: int) -> list[Row]:
    return [
        Row(f"`GET {path}` req/s", f"≥ {floor:,}", at(name, "rps"), "rps", lambda v, f=floor: v >= f),
        Row(f"`GET {path}` p99", "", at(name, "p99_ms"), "ms"),
    ]


def fanout_rows(readers: int, rate: int, ceiling: int) -> list[Row]:
    what = f"stream {readers:,} × {rate}/s"
    return [
        Row(f"{what}: delivery p99", f"≤ {ceiling} ms", at("latency_ms", 99), "ms", lambda v, c=ceiling: v <= c),
        Row(f"{what}: delivery p50", "", at("latency_ms", 50), "ms"),
        Row(f"{what}: gaps + duplicates + failed posts", "0", faults, "count", lambda v: v == 0),
        Row(f"{what}: the readers' CPU seconds (a load generator, not the server)", "", readers_cpu, "s"),
    ]


def readers_cpu(report: dict) -> float | None:
    """The readers' own CPU over the run: near the run's length, they were a bottleneck themselves."""
    return report.get("loadgen_cpu_seconds")


def storm_rows(viewers: int, rate: float) -> list[Row]:
    return [
        Row(f"storm: {viewers:,} connects → all `history`, p50", "", at("all_history_ms", "p50"), "ms"),
        Row("storm: … p99", "", at("all_history_ms", "p99"), "ms"),
        Row("storm: … max (all served)", "", at("all_history_ms", "max"), "ms"),
        Row(
            "storm: viewers without `history`",
            "0",
            lambda r: r["viewers"] - r["with_history"],
            "count",
            lambda v: v == 0,
        ),
        Row(f"storm: then {rate:g} msg/s, delivery p50", "", at("delivery_ms", "p50"), "ms"),
        Row("storm: … delivery p99", "", at("delivery_ms", "p99"), "ms"),
        Row("storm: gaps + duplicates + failed posts", "0", faults, "count", lambda v: v == 0),
    ]


@dataclass
class Scenario:
    name: str
    run: Callable[[Target, Plan], dict]
    rows: list[Row]
    results: list[dict] = field(default_factory=list)


def scenarios(plan: Plan) -> list[Scenario]:
    def fanout(readers: int, rate: int) -> Callable[[Target, Plan], dict]:
        return lambda target, plan: run_fanout(target, plan, readers, rate)

    r1, r2, r5 = (round(readers * plan.readers_scale) for readers in (1000, 2000, 5000))
    idle = Row(f"RSS per idle reader ({r5:,} readers)", "≤ 35 KB", at("rss_kb_per_reader"), "KB", lambda v: v <= 35)
    return [
        Scenario(
            "pages",
            run_pages,
            page_rows("lobby", "/ (120 messages)", 1500)
            + page_rows("messages", "/api/messages?limit=50", 1500)
            + page_rows("agents", "/api/agents (50 online)", 1500)
            + page_rows("health", "/health", 2000),
        ),
        Scenario(
            "post",
            run_post,
            [
                Row("`POST /api/messages` req/s", "≥ 2,500", at("post", "rps"), "rps", lambda v: v >= 2500),
                Row("`POST /api/messages` p99", "≤ 50 ms", at("post", "p99_ms"), "ms", lambda v: v <= 50),
                Row(
                    "`POST /api/messages` answers not 201",
                    "0",
                    lambda r: r["post"]["not_201"] + r["post"]["socket_errors"],
                    "count",
                    lambda v: v == 0,
                ),
                Row("… with 3 mentions + a reply: req/s", "", at("post_conversation", "rps"), "rps"),
                Row("… with 3 mentions + a reply: p99", "", at("post_conversation", "p99_ms"), "ms"),
                Row(
                    "… with 3 mentions + a reply: answers not 201",
                    "0",
                    lambda r: r["post_conversation"]["not_201"] + r["post_conversation"]["socket_errors"],
                    "count",
                    lambda v: v == 0,
                ),
                Row(
                    "… its cost ÷ a plain post's (plain req/s ÷ its req/s)",
                    "≤ 1.10",
                    at("conversation_cost"),
                    "ratio",
                    lambda v: v <= 1.10,
                ),
            ],
        ),
        Scenario("fanout-1000x10", fanout(r1, 10), fanout_rows(r1, 10, 60)),
        Scenario("fanout-2000x20", fanout(r2, 20), fanout_rows(r2, 20, 100)),
        Scenario("fanout-5000x2", fanout(r5, 2), [*fanout_rows(r5, 2, 200), idle]),
        Scenario(
            "history",
            run_history,
            [
                Row(
                    f"connect → `history`, {plan.history_messages:,} stored, p99",
                    "≤ 50 ms",
                    at("history_ms", "p99"),
                    "ms",
                    lambda v: v <= 50,
                ),
                Row("connect → `history`, p50", "", at("history_ms", "p50"), "ms"),
            ],
        ),
        Scenario("storm", run_storm, storm_rows(plan.storm_viewers, plan.storm_rate)),
    ]


GROUPS = {"fanout": ["fanout-1000x10", "fanout-2000x20", "fanout-5000x2"]}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "rps":
        return f"{value:,.0f}"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:,.1f} s"
    return f"{value:,.1f}"


def ratio(chatr: float | None, reference: float | None) -> str:
    if chatr is None or reference is None or reference == 0:
        return "–"
    return f"{chatr / reference:.2f}"


def cell(values: list[str]) -> str:
    return " / ".join(values) if values else "–"


def table(chosen: list[Scenario], *, judge: bool) -> list[str]:
    lines = [
        "| measure | target | chatr | reference | chatr ÷ reference | met | load avg (1 min) before → after |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in chosen:
        by_round: dict[int, dict[str, dict]] = {}
        for result in scenario.results:
            by_round.setdefault(result["round"], {})[result["target"]] = result
        rounds = [by_round[n] for n in sorted(by_round)]
        loads = [
            f"{r[t]['loadavg_before'][0]:.1f} → {r[t]['loadavg_after'][0]:.1f}"
            for r in rounds
            for t in ("chatr", "reference")
            if t in r
        ]
        for index, row in enumerate(scenario.rows):
            chatr = [safe(row.pick, r["chatr"]) for r in rounds if "chatr" in r]
            reference = [safe(row.pick, r["reference"]) for r in rounds if "reference" in r]
            ratios = (
                [ratio(c, f) for c, f in zip(chatr, reference, strict=False)] if row.unit not in ("count", "s") else []
            )
            met = "–"
            if judge and row.meets is not None and chatr and all(v is not None for v in chatr):
                met = "yes" if all(row.meets(v) for v in chatr) else "**no**"
            lines.append(
                f"| {row.label} | {row.target or '–'} | {cell([fmt(v, row.unit) for v in chatr])} "
                f"| {cell([fmt(v, row.unit) for v in reference])} | {cell(ratios)} | {met} "
                f"| {'; '.join(loads) if index == 0 else ''} |"
            )
    return lines


def safe(pick: Callable[[dict], float | None], report: dict) -> float | None:
    if "error" in report:
        return None
    try:
        return pick(report)
    except (KeyError, TypeError):
        return None


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    versions = {}
    for name, command in {"node": ["node", "--version"], "wrk": ["wrk", "--version"]}.items():
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        text = (run.stdout or run.stderr).strip()
        versions[name] = text.splitlines()[0].split(" Copyright")[0] if text else "?"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
    }


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="chatr-compare-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_one(scenario: Scenario, kind: str, plan: Plan, workdir: Path, template: Path, chatr_env: dict) -> dict:
    target: Target = Chatr(workdir, template, chatr_env) if kind == "chatr" else Reference(workdir)
    result: dict = {"target": kind, "loadavg_before": os.getloadavg()}
    started = time.monotonic()
    try:
        result.update(scenario.run(target, plan))
    except Exception as error:  # one broken run must not lose the others' figures
        result["error"] = f"{type(error).__name__}: {error}"
        print(f"   !! {kind}: {result['error']} (log: {target.log_path})", file=sys.stderr)
    finally:
        target.stop()
    result["loadavg_after"] = os.getloadavg()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    if kind == "chatr" and "error" not in result:
        target.db.unlink(missing_ok=True)  # a 1M-message file is 150 MB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round of everything (≈ 3–4 minutes)")
    parser.add_argument("--only", help="comma-separated scenarios: pages,post,fanout,fanout-1000x10,…,history,storm")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default 2, quick 1)")
    parser.add_argument("--out", type=Path, help="where the JSON and summary.md go (default bench/results[/quick])")
    parser.add_argument(
        "--plan",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a Plan field, e.g. storm_viewers=200",
    )
    parser.add_argument("--chatr-env", action="append", default=[], metavar="NAME=VALUE", help="extra env for chatr")
    args = parser.parse_args()
    plan = Plan.quick() if args.quick else Plan()
    if args.rounds:
        plan.rounds = args.rounds
    for item in args.plan:
        name, _, value = item.partition("=")
        if name not in Plan.__dataclass_fields__:
            parser.error(f"--plan: no field {name!r}; fields: {', '.join(Plan.__dataclass_fields__)}")
        setattr(plan, name, type(getattr(plan, name))(value))
    everything = scenarios(plan)
    names = [scenario.name for scenario in everything]
    chosen = everything
    if args.only:
        wanted = {name for item in args.only.split(",") for name in GROUPS.get(item.strip(), [item.strip()])}
        unknown = wanted - set(names)
        if unknown:
            parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(names)}, fanout")
        chosen = [scenario for scenario in everything if scenario.name in wanted]
    out = args.out or (BENCH / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    chatr_env = dict(item.split("=", 1) for item in args.chatr_env)

    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))  # the servers inherit it: 5,000 readers each
    info = {
        "command": " ".join(["bench/run_all.sh", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "quick" if args.quick else "full",
        "plan": plan.__dict__,
        "machine": machine(),
        "loadavg_start": os.getloadavg(),
    }
    began = time.monotonic()
    with workspace() as workdir:
        template = migrated_template(workdir)
        for scenario in chosen:
            for number in range(plan.rounds):
                order = ("chatr", "reference") if number % 2 == 0 else ("reference", "chatr")
                for kind in order:
                    print(f"== {scenario.name} round {number + 1}: {kind}", file=sys.stderr, flush=True)
                    result = run_one(scenario, kind, plan, workdir, template, chatr_env)
                    scenario.results.append({"round": number + 1, **result})
            document = {"scenario": scenario.name, **info, "runs": scenario.results}
            (out / f"{scenario.name}.json").write_text(json.dumps(document, indent=1) + "\n")
    info["loadavg_end"] = os.getloadavg()
    info["wall_minutes"] = round((time.monotonic() - began) / 60, 1)
    m = info["machine"]
    header = [
        f"# make bench: chatr ÷ reference ({info['date']})",
        "",
        f"- command: `{info['command']}` ({info['mode']}; {plan.rounds} round(s), alternating; "
        f"{info['wall_minutes']} minutes)",
        f"- machine: {m['nproc']} × {m['cpu_model']}, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"Python {m['python']}, Node {m['node']}, {m['wrk']}",
        f"- load average (1 min) at start {info['loadavg_start'][0]:.2f}, at end {info['loadavg_end'][0]:.2f}",
        "- chatr: `python -m chatr.serve`, SQLite, `CHATR_RATELIMITS=off`"
        + (f", {', '.join(args.chatr_env)}" if args.chatr_env else "")
        + "; reference: `node bench/reference/server.js` (in memory)",
        "- one figure per round (`a / b`); ratio = chatr ÷ reference of the same round: > 1 is chatr slower for "
        "latencies and faster for req/s; `met` = chatr meets the issue's target in every round"
        + ("" if plan.full_size else " (not judged: this run is smaller than the targets' sizes)"),
        "",
    ]
    lines = header + table(chosen, judge=plan.full_size)
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
