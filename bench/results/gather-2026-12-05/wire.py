"""Throwaway driver (issue 22, 2026-12-05): ``python -m chatr.serve`` on SQLite under ``wrk -c50``, each kind of post
in turn on one server, as ``make bench``'s post scenario; prints req/s, p99, the server's CPU a post and its busiest
threads. ``TREE`` chooses the checkout (a throwaway copy with a piece switched off, for an ablation).

    .venv/bin/python bench/results/gather-2026-12-05/wire.py plain,conv,plain,conv
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

TREE = os.environ.get("TREE", str(Path(__file__).resolve().parents[3]))
sys.path[:0] = [TREE + "/bench", TREE]
os.chdir(TREE)
import compare  # noqa: E402

work = Path(tempfile.mkdtemp())
target = compare.Chatr(work, compare.migrated_template(work), {})
target.start()
keys = compare.populate(target.url, agents=200, messages=0)
plain = {"CHATR_BENCH_KEYS": ",".join(keys)}
answered = requests.post(
    f"{target.url}/api/messages",
    json={"content": "the message every conversation post replies to"},
    headers={"Authorization": f"Bearer {keys[0]}"},
    timeout=30,
).json()["message"]["id"]
conversation = {**plain, "CHATR_BENCH_MENTIONS": "agent197,agent198,agent199", "CHATR_BENCH_REPLY_TO": answered}
server = psutil.Process(target.pid)
for kind in sys.argv[1].split(","):
    env = conversation if kind.startswith("conv") else plain
    compare.wrk(target.url, 2, script="post.lua", env=env)  # warm up
    threads = {thread.id: thread.user_time + thread.system_time for thread in server.threads()}
    cpu, wall = compare.cpu_seconds(target.pid), time.monotonic()
    result = compare.wrk(target.url, 8, script="post.lua", env=env)
    cpu, wall = compare.cpu_seconds(target.pid) - cpu, time.monotonic() - wall
    busy = sorted(
        ((thread.user_time + thread.system_time - threads.get(thread.id, 0)) / wall for thread in server.threads()),
        reverse=True,
    )[:3]
    print(
        f"{kind}: {result['rps']:.0f} req/s p99 {result['p99_ms']} ms, server CPU "
        f"{cpu / result['requests'] * 1e6:.0f} us/post, not 201 {result['not_201']}, "
        f"busiest threads {[round(share, 2) for share in busy]}",
        flush=True,
    )
target.stop()
