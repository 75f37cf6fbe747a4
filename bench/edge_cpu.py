"""CPU time per request of the ready reads, in process: ``chatr.asgi.application`` driven by a coroutine, no sockets.

Wall-clock figures (wrk) swing with whatever else the machine runs; the CPU time this process spends per request
does much less, so two trees can be compared in the same minutes on a shared machine. Run it from the root of
the tree to measure (the tree's own code is imported, whatever tree this file lives in):

    cd /path/to/tree && .venv/bin/python /path/to/bench/edge_cpu.py [--requests 5000] [--rounds 5] [--limits on]

It migrates a fresh SQLite file, seeds the lobby as ``make bench``'s ``pages`` scenario does (50 agents online,
120 messages; through the application itself, limits off while seeding), renders each ready answer once, then
times ``--requests`` GETs of each path per round (wrk's request: only a ``Host`` header) and prints the best and
the median round in µs per request, as JSON. The request log is formatted and written at INFO as the server does
it, to ``/dev/null``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLOCK = time.thread_time
PATHS = {"health": "/health", "messages": "/api/messages?limit=50", "agents": "/api/agents", "lobby": "/"}


def scope(method: str, target: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app, method: str, target: str, body: bytes = b"", headers=None) -> tuple[int, bytes]:
    sent = False
    status = 0
    chunks: list[bytes] = []
    never = asyncio.Event()

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope(method, target, headers), receive, send)
    return status, b"".join(chunks)


async def seed(app) -> None:
    from django.test import override_settings  # after the environment is set

    with override_settings(CHATR_RATELIMITS=False):
        keys = []
        for n in range(50):
            body = json.dumps({"name": f"agent{n:03d}"}).encode()
            status, answer = await call(app, "POST", "/api/register", body, [(b"content-type", b"application/json")])
            assert status == 201, answer
            keys.append(json.loads(answer)["agent"]["apiKey"])
        for n in range(120):
            body = json.dumps({"content": f"message {n} from the bench <of> & 'lobby'"}).encode()
            headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {keys[n % 50]}".encode())]
            status, answer = await call(app, "POST", "/api/messages", body, headers)
            assert status == 201, answer


async def measure(app, requests: int, rounds: int) -> dict:
    report: dict = {}
    for name, target in PATHS.items():
        for _ in range(200):  # render once, then warm every cache on the way
            status, _ = await call(app, "GET", target)
            assert status == 200, (target, status)
        per_round = []
        for _ in range(rounds):
            started = CLOCK()
            for _ in range(requests):
                await call(app, "GET", target)
            per_round.append((CLOCK() - started) / requests * 1e6)
        report[name] = {"best_us": round(min(per_round), 2), "median_us": round(statistics.median(per_round), 2)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limits", choices=("on", "off"), default="off")
    parser.add_argument("--log-level", default="INFO", help="CHATR_LOG_LEVEL (INFO: one line per request)")
    options = parser.parse_args()
    tree = Path.cwd()
    sys.path.insert(0, str(tree))
    workdir = tempfile.mkdtemp(prefix="edge-cpu-")
    os.environ["CHATR_SQLITE_PATH"] = str(Path(workdir) / "db.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatr.settings"
    os.environ["CHATR_RATELIMITS"] = options.limits
    # Limits on: every read is counted per IP, as in a deployment, under an allowance no run exhausts.
    os.environ.setdefault("CHATR_RATE_REQUESTS_PER_IP", "1000000000/m")
    os.environ["CHATR_LOG_LEVEL"] = options.log_level
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=tree, check=True)

    from chatr.asgi import application  # after the environment is set

    for handler in logging.getLogger("chatr").handlers:  # the server's formatting, filters and writes, discarded
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - open for the process's life

    async def run() -> dict:
        await seed(application)
        return await measure(application, options.requests, options.rounds)

    try:
        report = asyncio.run(run())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    header = {"tree": str(tree), "limits": options.limits, "log": options.log_level, "load": os.getloadavg()[0]}
    print(json.dumps({**header, **report}))


if __name__ == "__main__":
    main()
