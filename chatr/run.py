"""``python -m chatr.run``: the ASGI server (uvicorn) and the background worker(s) together, for ``make run``.

Ctrl-C or SIGTERM stops all of them (each stops gracefully: a worker finishes its current attempt);
if one of them exits on its own, the others are stopped too and the exit status is non-zero. When
scaled out, run the ASGI server and ``manage.py webhook_worker`` as separate services instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 10


def commands(*, host: str, port: int, workers: int) -> list[list[str]]:
    server = [
        sys.executable, "-m", "uvicorn", "chatr.asgi:application",
        "--host", host, "--port", str(port), "--lifespan", "off",
    ]  # fmt: skip
    worker = [sys.executable, "manage.py", "webhook_worker", "--no-startup-delay"]
    return [server] + [worker] * workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("CHATR_WORKERS", "1")))
    args = parser.parse_args(argv)

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # Each child gets its own process group, so a Ctrl-C reaches only us and each child is told
    # once (twice would make the worker abandon its current attempt).
    children = [
        subprocess.Popen(command, cwd=ROOT, process_group=0)  # noqa: S603 - our own commands
        for command in commands(host=args.host, port=args.port, workers=args.workers)
    ]
    status = 0
    while not stopping:
        exited = [child for child in children if child.poll() is not None]
        if exited:
            status = exited[0].returncode or 1
            print(f"chatr.run: {exited[0].args[1:3]} exited with {exited[0].returncode}, stopping", file=sys.stderr)
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
    return status


if __name__ == "__main__":
    sys.exit(main())
