"""Throwaway driver (issue 22, 2026-12-05): ``python -m chatr.run --processes P`` through one port on a fresh
PostgreSQL database, ``wrk`` posting at each connection count; bench/scaling.py --posts does the same in rounds.

    .venv/bin/python bench/results/gather-2026-12-05/oneport.py 200,300,400 1,2
"""

import os
import sys
import tempfile
from pathlib import Path

TREE = os.environ.get("TREE", str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, TREE + "/bench")
os.chdir(TREE)
import compare  # noqa: E402
import scaling  # noqa: E402

connection_counts = [int(count) for count in sys.argv[1].split(",")]
work = Path(tempfile.mkdtemp())
for processes in [int(count) for count in sys.argv[2].split(",")]:
    with scaling.cluster(processes, work) as target:
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
