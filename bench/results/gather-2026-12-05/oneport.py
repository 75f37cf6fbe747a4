"""Throwaway driver (issue 22, 2026-12-05): ``python -m chatr.run --processes P`` through one port on a fresh
PostgreSQL database, ``wrk`` posting at each connection count; bench/scaling.py --posts does the same in rounds.

    .venv/bin/python bench/results/gather-2026-12-05/oneport.py 200,300,400 1,2
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

TREE = os.environ.get("TREE", str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, TREE + "/bench")
os.chdir(TREE)
import compare  # noqa: E402
import scaling  # noqa: E402

connection_counts = [int(count) for count in sys.argv[1].split(",")]
work = Path(tempfile.mkdtemp())
for processes in [int(count) for count in sys.argv[2].split(",")]:
    database, redis_url = scaling.fresh_database(), f"{scaling.REDIS_BASE}/15"
    redis.Redis.from_url(redis_url).flushdb()
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    migrate = [sys.executable, "manage.py", "migrate", "-v", "0"]
    subprocess.run(migrate, cwd=TREE, env={**env, "DATABASE_URL": database}, check=True)
    target = scaling.Cluster(work, processes, database, redis_url)
    try:
        target.start()
        keys = compare.populate(target.url, agents=200, messages=0)
        post_env = {"CHATR_BENCH_KEYS": ",".join(keys)}
        compare.wrk(target.url, 3, script="post.lua", env=post_env, connections=50)
        for connections in connection_counts:
            load = os.getloadavg()[0]
            result = compare.wrk(target.url, 8, script="post.lua", env=post_env, connections=connections)
            print(
                f"processes {processes}, {connections} connections: {result['rps']:.0f} req/s, "
                f"p99 {result['p99_ms']} ms, not 201 {result['not_201']}, load {load:.1f}",
                flush=True,
            )
    finally:
        target.stop()
        scaling.drop_database(database)
