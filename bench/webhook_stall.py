"""Webhook stall benchmark (security review II, finding 3): silent receivers must not delay a healthy one.

Ten webhook endpoints accept connections and never answer; one answers 200 at once. Each of the eleven
agents receives ``--per-minute`` direct messages a minute (default 30, the §8 per-sender limit) for
``--seconds``, from one server process and one ``manage.py webhook_worker`` on a fresh SQLite file (or
``--database-url``). It reports the healthy endpoint's delivery latency (from the start of the POST to
the receiver reading the request) and what the worker did with the silent ones. Goal: p99 ≤ 2 s.

    .venv/bin/python bench/webhook_stall.py                  # 120 s, about 2.5 minutes in all
    .venv/bin/python bench/webhook_stall.py --seconds 60 --silent 20
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.server import ServerProcess  # noqa: E402
from tests.webhooks.processes import WorkerProcess  # noqa: E402
from tests.webhooks.receiver import Receiver  # noqa: E402

ENV = {
    "CHATR_WEBHOOK_ALLOW_PRIVATE": "1",
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_AI_REQUESTS_PER_AGENT": "100000/m",
    "CHATR_RATE_PRIVATE_MESSAGES": "100000/m",
}


class Silent:
    """Accepts connections, reads nothing back, never answers."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/hook"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.socket.close()
        for each in self.held:
            each.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def register(base: str, name: str) -> dict:
    response = requests.post(f"{base}/api/register", json={"name": name}, timeout=10)
    response.raise_for_status()
    return response.json()["agent"]


def auth(agent: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent['apiKey']}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silent", type=int, default=10)
    parser.add_argument("--per-minute", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="webhook-stall-"))
    env = dict(ENV)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    else:
        env["CHATR_SQLITE_PATH"] = str(folder / "chatr.sqlite3")
    server = ServerProcess(env)
    server.migrate()
    server.start()
    worker = WorkerProcess(server.env, folder / "worker.log")
    silent = [Silent() for _ in range(args.silent)]
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    errors = 0
    try:
        with Receiver() as healthy:
            recipients = [register(server.url, f"silent{i}") for i in range(args.silent)] + [
                register(server.url, "healthy")
            ]
            senders = [register(server.url, f"sender{i}") for i in range(len(recipients))]
            for recipient, url in zip(recipients, [each.url for each in silent] + [healthy.url], strict=True):
                response = requests.post(
                    f"{server.url}/ai/webhook", json={"webhook_url": url}, headers=auth(recipient), timeout=10
                )
                response.raise_for_status()
            worker.start()
            # The worker's start-up (Django setup) is not what is measured: wait for its first poll.
            deadline = time.monotonic() + 60
            while "Starting worker" not in (folder / "worker.log").read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            interval = 60 / args.per_minute
            session = requests.Session()
            started = time.monotonic()
            tick = 0
            while time.monotonic() - started < args.seconds:
                # One message to every recipient per interval, spread evenly over it (open loop).
                for index, (sender, recipient) in enumerate(zip(senders, recipients, strict=True)):
                    due = started + tick * interval + index * interval / len(recipients)
                    time.sleep(max(due - time.monotonic(), 0))
                    content = f"m{tick}-{index}"
                    sent_at[content] = time.monotonic()
                    response = session.post(
                        f"{server.url}/ai/messages",
                        json={"toAiId": recipient["id"], "content": content},
                        headers=auth(sender),
                        timeout=30,
                    )
                    errors += response.status_code != 201
                tick += 1
            expected = tick
            deadline = time.monotonic() + 15
            while len(healthy.requests) < expected and time.monotonic() < deadline:
                time.sleep(0.1)
            arrivals = list(healthy.requests)
            seen: set[str] = set()
            arrival_times = list(healthy.arrivals)
            for received, arrived in zip(arrivals, arrival_times, strict=True):
                content = json.loads(received.body)["message"]["content"]
                if content not in seen:
                    seen.add(content)
                    latencies.append(arrived - sent_at[content])
    finally:
        worker.stop()
        attempts = silent_attempts(server)
        server.stop()
        for each in silent:
            each.close()
    result = {
        "scenario": f"{args.silent} silent + 1 healthy endpoints, {args.per_minute:g} DMs/min each, {args.seconds:g} s",
        "database": "postgresql" if args.database_url else "sqlite",
        "healthy_expected": expected,
        "healthy_delivered": len(latencies),
        "healthy_p50_s": round(percentile(latencies, 50), 3),
        "healthy_p99_s": round(percentile(latencies, 99), 3),
        "healthy_max_s": round(max(latencies, default=float("nan")), 3),
        "healthy_over_2s": sorted(round(each, 2) for each in latencies if each > 2),
        "silent_messages": expected * args.silent,
        "silent_attempts": attempts,
        "post_errors": errors,
        "goal_p99_le_2s": percentile(latencies, 99) <= 2.0 and len(latencies) == expected,
    }
    print(json.dumps(result, indent=2))


def silent_attempts(server: ServerProcess) -> int | None:
    """How many attempts the silent endpoints cost, read from the worker's database."""
    script = "from webhooks.models import Attempt; print(Attempt.objects.filter(status_code__isnull=True).count())"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


if __name__ == "__main__":
    main()
