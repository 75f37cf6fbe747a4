"""Count and time psycopg_pool's health check of each connection handed out (Django's ``CONN_HEALTH_CHECKS``) around
``bench/post_cpu.py --db postgres`` (a measurement wrapper of this sitting, not a tool of the project).

    .venv/bin/python bench/results/pglock-2026-12-05/health_checks.py --db postgres --posts 1500 --rounds 2 \\
        --concurrency 25
"""

import atexit
import runpy
import sys
import time
from pathlib import Path

import psycopg_pool

sys.argv = ["post_cpu.py", *sys.argv[1:]]
original = psycopg_pool.ConnectionPool.check_connection
stats = {"calls": 0, "cpu": 0.0, "wall": 0.0}


def counted(connection):
    cpu, wall = time.thread_time(), time.perf_counter()
    try:
        return original(connection)
    finally:
        stats["calls"] += 1
        stats["cpu"] += time.thread_time() - cpu
        stats["wall"] += time.perf_counter() - wall


psycopg_pool.ConnectionPool.check_connection = staticmethod(counted)  # Django reads it when it makes the pool


@atexit.register
def report():
    calls = max(1, stats["calls"])
    print(
        f"health checks: {stats['calls']} calls, {1e6 * stats['cpu'] / calls:.1f} µs CPU each, "
        f"{1e6 * stats['wall'] / calls:.1f} µs wall each",
        flush=True,
    )


runpy.run_path(str(Path(__file__).resolve().parents[2] / "post_cpu.py"), run_name="__main__")
