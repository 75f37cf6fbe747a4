"""Webhooks end to end: a real server process, a real worker process, real receivers on loopback.

The worker runs with a fast retry schedule (1 s between attempts, set by CHATR_WEBHOOK_RETRY_DELAYS)
because it lives in another process, where the clock cannot be moved; the real schedule is checked
in-process (test_delivery.py).
"""

import contextlib
import os
import sqlite3
import statistics
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from tests.e2e.clients import headers, register
from tests.server import ServerProcess
from tests.waiting import wait_until
from tests.webhooks.processes import RunProcess, WorkerProcess, processes_with_env
from tests.webhooks.receiver import Receiver, Reply

pytestmark = pytest.mark.e2e

ENV = {
    "CHATR_WEBHOOK_ALLOW_PRIVATE": "1",
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_PRIVATE_MESSAGES": "100000/m",
    "CHATR_RATE_AI_REQUESTS_PER_AGENT": "100000/m",
}


def set_webhook(base: str, agent: dict, url: str) -> str:
    response = requests.post(f"{base}/ai/webhook", json={"webhook_url": url}, headers=headers(agent), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def send_direct(base: str, sender: dict, recipient: dict, content: str) -> float:
    """POST /ai/messages; returns how long it took, in seconds."""
    started = time.perf_counter()
    response = requests.post(
        f"{base}/ai/messages",
        json={"toAiId": recipient["id"], "content": content},
        headers=headers(sender),
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    return elapsed


def fail_twice_per_delivery(received, seen) -> Reply:
    tries = sum(1 for each in seen if each.headers["webhook-id"] == received.headers["webhook-id"])
    return Reply(500) if tries <= 2 else Reply(200)


def sqlite_rows(env: dict[str, str], sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(env["CHATR_SQLITE_PATH"])) as database:
        return database.execute(sql).fetchall()


def all_pending_due(env: dict[str, str], count: int) -> bool:
    """``count`` deliveries wait for an attempt and the time of each has come."""
    now = datetime.now(UTC).replace(tzinfo=None)
    due = sqlite_rows(env, "SELECT next_attempt_at FROM webhooks_delivery WHERE status = 'pending'")
    return len(due) == count and all(datetime.fromisoformat(at).replace(tzinfo=None) <= now for (at,) in due)


def nothing_left_to_send(env: dict[str, str]) -> bool:
    """Every delivery succeeded and the engine holds no task that could send one again."""
    unfinished = "SELECT count(*) FROM webhooks_delivery WHERE status != 'succeeded'"
    tasks = "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status IN ('READY', 'RUNNING')"
    return sqlite_rows(env, unfinished) == [(0,)] and sqlite_rows(env, tasks) == [(0,)]


def test_a_worker_stopped_during_failures_and_restarted_loses_nothing(tmp_path):
    env = {**ENV, "CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3"), "CHATR_WEBHOOK_RETRY_DELAYS": "1,1,1,1,1"}
    server = ServerProcess(env)
    server.migrate()
    server.start()
    worker = WorkerProcess(server.env, tmp_path / "worker.log")
    try:
        with Receiver(reply_for=fail_twice_per_delivery) as hook:
            alice, bob = register(server.url, "alice"), register(server.url, "bob")
            secret = set_webhook(server.url, alice, hook.url)
            worker.start()
            send_direct(server.url, bob, alice, "first, while the worker runs")
            hook.wait_for(1)
            worker.stop()  # down after the first failure, before the retry is due
            send_direct(server.url, bob, alice, "second, while no worker runs")
            wait_until(lambda: all_pending_due(server.env, 2), message="two deliveries due")  # nobody delivers
            assert len(hook.requests) == 1
            worker.start()
            hook.wait_for(6)
            wait_until(lambda: nothing_left_to_send(server.env), message="deliveries left")
            requests_seen = list(hook.requests)
    finally:
        worker.stop()
        server.stop()
    by_id = Counter(each.headers["webhook-id"] for each in requests_seen)
    assert len(requests_seen) == 6 and sorted(by_id.values()) == [3, 3]
    delivered = {}
    for each in requests_seen:
        payload = Webhook(secret).verify(each.body, each.headers)  # every attempt verifies
        delivered[payload["message"]["content"]] = payload
    assert set(delivered) == {"first, while the worker runs", "second, while no worker runs"}
    assert all(p["type"] == "message" and p["message"]["from_ai_id"] == bob["id"] for p in delivered.values())


def test_a_hanging_receiver_does_not_change_post_latency_and_ctrl_c_stops_server_and_worker(tmp_path):
    """Under ``python -m chatr.run`` (what ``make run`` starts): posts to an agent whose receiver hangs
    take as long as posts to one without a webhook, measured side by side."""
    sqlite_path = str(tmp_path / "chatr.sqlite3")
    run = RunProcess({**ENV, "CHATR_SQLITE_PATH": sqlite_path}, tmp_path / "run.log").start()
    try:
        with Receiver(default=Reply(hang=60)) as hook:
            alice, bob, carol = (register(run.url, name) for name in ("alice", "bob", "carol"))
            set_webhook(run.url, alice, hook.url)
            send_direct(run.url, bob, alice, "warm-up: the worker is now stuck on this one")
            hook.wait_for(1, timeout=30)
            hooked, plain = [], []
            for round_ in range(15):
                plain.append(send_direct(run.url, bob, carol, f"plain {round_}"))
                hooked.append(send_direct(run.url, bob, alice, f"hooked {round_}"))
            assert hook.connections >= 1 and len(hook.requests) <= 2  # the worker really is held up
        assert max(hooked) < 1.0
        assert statistics.median(hooked) < statistics.median(plain) * 1.5 + 0.03, (hooked, plain)
    finally:
        status = run.interrupt()
    assert status == 0, (tmp_path / "run.log").read_text()[-2000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{run.url}/health", timeout=2)
    assert processes_with_env("CHATR_SQLITE_PATH", sqlite_path) == [], "a child of chatr.run outlived it"
    assert os.path.exists(sqlite_path)
