"""wrk A/B of the ready reads between two trees, both servers up side by side (``docs/benchmarks.md``).

    .venv/bin/python bench/reads_ab.py /path/to/before-tree /path/to/after-tree [--rounds 3] [--seconds 4]

Each tree serves as ``make bench`` serves it (``python -m chatr.serve``, SQLite, ``CHATR_RATELIMITS=off``, the
request log at INFO to a file) on a lobby seeded as the ``pages`` scenario seeds it (50 agents, 120 messages);
then, per round and path, wrk (50 connections) runs against one server and then the other, alternating which
goes first. ``PYTHONPATH`` is passed on (a tree may need a package the shared venv lacks). Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import PAGES, free_port, populate, wrk


def serve(tree: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "CHATR_SQLITE_PATH": str(workdir / "db.sqlite3"), "CHATR_RATELIMITS": "off"}
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "CHATR_LOG_LEVEL"):
        env.pop(name, None)
    python = str(tree / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=tree, env=env, check=True)
    port = free_port()
    log = (workdir / "server.log").open("w")
    command = [python, "-m", "chatr.serve", "--port", str(port), "--no-access-log"]
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            subprocess.run(["curl", "-sf", "-o", "/dev/null", f"{url}/health"], check=True, timeout=5)
            break
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4)
    options = parser.parse_args()
    servers = {}
    workdir = Path(tempfile.mkdtemp(prefix="reads-ab-"))
    try:
        for name, tree in (("before", options.before), ("after", options.after)):
            (workdir / name).mkdir()
            process, url = serve(tree.resolve(), workdir / name)
            servers[name] = (process, url)
            populate(url, agents=50, messages=120)
        for round_ in range(options.rounds):
            order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
            for page, path in PAGES.items():
                for name in order:
                    result = wrk(servers[name][1] + path, options.seconds)
                    line = {"round": round_ + 1, "page": page, "tree": name, "rps": result["rps"]}
                    print(json.dumps({**line, "non_2xx": result["non_2xx"], "load": os.getloadavg()[0]}), flush=True)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
