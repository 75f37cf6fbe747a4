"""Throwaway driver (issue 22, 2026-12-05): reads on one and two server processes sharing a fresh PostgreSQL database
and Redis database (two ports, one ``wrk`` each, 50 connections in all), to see whether the machine scales work that
writes nothing.

    .venv/bin/python bench/results/gather-2026-12-05/scale_get.py "/api/messages?limit=50" 2
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.chdir(ROOT)
import post_load  # noqa: E402

from tests.server import ServerProcess  # noqa: E402


def requests_per_second(urls: list[str], path: str) -> float:
    runs = [
        subprocess.Popen(["wrk", "-t1", f"-c{50 // len(urls)}", "-d8s", url + path], stdout=subprocess.PIPE, text=True)
        for url in urls
    ]
    total = 0.0
    for run in runs:
        out, _ = run.communicate()
        total += sum(float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec"))
    return total


path, rounds = sys.argv[1], int(sys.argv[2])
workdir = Path(tempfile.mkdtemp())
with post_load.database("postgres", workdir) as db_env:
    env = {**db_env, "CHATR_RATELIMITS": "off"}
    servers = [ServerProcess(env, server="uvicorn") for _ in range(2)]
    servers[0].migrate()
    for index, server in enumerate(servers):
        server.log_path = workdir / f"server-{index}.log"
        server.start()
    try:
        first = servers[0].url
        key = requests.post(f"{first}/api/register", json={"name": "getter"}, timeout=10).json()["agent"]["apiKey"]
        for n in range(60):
            requests.post(
                f"{first}/api/messages",
                json={"content": f"m {n}"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
        for server in servers:
            subprocess.run(["wrk", "-t1", "-c10", "-d2s", server.url + path], capture_output=True, check=True)
        for _ in range(rounds):
            one = requests_per_second([servers[0].url], path)
            two = requests_per_second([server.url for server in servers], path)
            print(f"{path}: 1 process {one:.0f} req/s, 2 processes {two:.0f}, ratio {two / one:.2f}", flush=True)
    finally:
        for server in servers:
            server.stop()
