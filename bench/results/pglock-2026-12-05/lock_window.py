"""The writer's lock window in process, timed around ``bench/post_cpu.py --db postgres`` (a measurement wrapper of
this sitting, not a tool of the project): per batch, the wall time of the messages' statement
(``postgres_batch.insert``), of the Python from its return to the ``COMMIT``, and of the ``COMMIT``.

    .venv/bin/python bench/results/pglock-2026-12-05/lock_window.py TREE --db postgres --posts 1500 --rounds 2 \\
        --concurrency 12
"""

import atexit
import os
import runpy
import sys
import threading
import time

tree = sys.argv[1]
sys.argv = ["post_cpu.py", *sys.argv[2:]]
sys.path.insert(0, tree)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")
stats = {"batches": 0, "posts": 0, "insert": 0.0, "between": 0.0, "commit": 0.0}
local = threading.local()

import django  # noqa: E402
import django.db.backends.postgresql.base as postgresql  # noqa: E402

original_commit = postgresql.DatabaseWrapper._commit


def commit(self):
    begun, returned = time.perf_counter(), getattr(local, "returned", None)
    try:
        return original_commit(self)
    finally:
        if returned is not None:
            stats["between"] += begun - returned
            stats["commit"] += time.perf_counter() - begun
            stats["batches"] += 1
            local.returned = None


postgresql.DatabaseWrapper._commit = commit
original_setup = django.setup


def setup(*args, **kwargs):
    original_setup(*args, **kwargs)
    import chat.postgres_batch as batch

    original_insert = batch.insert

    def insert(messages, *args, **kwargs):
        begun = time.perf_counter()
        result = original_insert(messages, *args, **kwargs)
        local.returned = time.perf_counter()
        stats["insert"] += local.returned - begun
        stats["posts"] += len(messages)
        return result

    batch.insert = insert


django.setup = setup


@atexit.register
def report():
    n = max(1, stats["batches"])
    per_batch = {key: round(1e6 * stats[key] / n) for key in ("insert", "between", "commit")}
    print(
        f"batches {stats['batches']}, posts/batch {stats['posts'] / n:.1f}: statement {per_batch['insert']} µs, "
        f"Python from its return to COMMIT {per_batch['between']} µs, COMMIT {per_batch['commit']} µs",
        flush=True,
    )


runpy.run_path(f"{tree}/bench/post_cpu.py", run_name="__main__")
