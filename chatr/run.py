"""``python -m chatr.run``: the ASGI server(s) (uvicorn) and the background worker(s) together.

``make run`` starts one server and one worker. ``--processes N`` starts N servers on the same port
(each binds it with SO_REUSEPORT and the kernel spreads new connections over them), which must share
PostgreSQL (``DATABASE_URL``) and Redis (``REDIS_URL``): that is ``make run-cluster``. Ctrl-C or SIGTERM
stops all of them (each stops gracefully: a worker finishes its current attempt); if one of them exits on its
own, the others are stopped too and the exit status is non-zero. On several machines, run the servers and
``manage.py webhook_worker`` as separate services instead (docs/deployment.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 10


def commands(*, host: str, port: int, workers: int, processes: int = 1) -> list[list[str]]:
    # chatr.serve: uvicorn on a listening socket with the half-open connection defences. chatr logs one
    # line per request itself, without query strings (docs/deployment.md).
    server = [sys.executable, "-m", "chatr.serve", "--host", host, "--port", str(port), "--no-access-log"]
    servers = [[*server, "--reuse-port"] for _ in range(processes)] if processes > 1 else [server]
    worker = [sys.executable, "manage.py", "webhook_worker", "--no-startup-delay"]
    return servers + [worker] * workers


def check_cluster_environment(processes: int) -> str | None:
    """Why ``processes`` servers cannot share this environment, or ``None`` if they can."""
    if processes < 2:
        return None
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        return f"{' and '.join(missing)} must be set: several processes share PostgreSQL and Redis"
    return None


def metrics_environment() -> dict[str, str]:
    """With metrics on, a fresh folder shared by all children, so /metrics sums over them."""
    if not os.environ.get("CHATR_METRICS") or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return {}
    folder = tempfile.mkdtemp(prefix="chatr-metrics-")
    return {"PROMETHEUS_MULTIPROC_DIR": folder}


def version() -> str:
    """chatr's version, as pyproject.toml declares it (the project is run from its checkout, not installed)."""
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"chatr {version()}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--processes", type=int, default=int(os.environ.get("CHATR_PROCESSES", "1")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("CHATR_WORKERS", "1")))
    args = parser.parse_args(argv)
    problem = check_cluster_environment(args.processes)
    if problem:
        parser.error(problem)

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    extra = metrics_environment()
    env = {**os.environ, **extra}
    # Each child gets its own process group, so a Ctrl-C reaches only us and each child is told
    # once (twice would make the worker abandon its current attempt).
    children = [
        subprocess.Popen(command, cwd=ROOT, env=env, process_group=0)  # noqa: S603 - our own commands
        for command in commands(host=args.host, port=args.port, workers=args.workers, processes=args.processes)
    ]
    if args.processes > 1:
        print(f"chatr.run: {args.processes} servers on {args.host}:{args.port}, pid {os.getpid()}", flush=True)
    status = 0
    while not stopping:
        exited = [child for child in children if child.poll() is not None]
        if exited:
            status = exited[0].returncode or 1
            print(
                f"chatr.run: {cast(list[str], exited[0].args)[1:3]} exited with {exited[0].returncode}, stopping",
                file=sys.stderr,
            )
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if extra:
        shutil.rmtree(extra["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
