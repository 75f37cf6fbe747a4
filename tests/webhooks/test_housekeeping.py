"""Security review II, finding 11: stored idempotency keys were never purged; the worker now prunes them.

A real server and a real ``manage.py webhook_worker``; keys are aged in the database (the clock of
another process cannot be moved), then the worker must delete those past 24 h and keep the rest.
"""

import contextlib
import sqlite3
import subprocess
import sys

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.server import ROOT, ServerProcess
from tests.waiting import wait_until
from tests.webhooks.processes import WorkerProcess
from tests.webhooks.test_e2e import ENV

pytestmark = pytest.mark.e2e


def manage_shell(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def keys(env: dict[str, str]) -> list[str]:
    with contextlib.closing(sqlite3.connect(env["CHATR_SQLITE_PATH"])) as database:
        return sorted(key for (key,) in database.execute("SELECT key FROM chat_idempotencykey"))


def age(env: dict[str, str], key: str, hours: float) -> None:
    manage_shell(
        env,
        "from datetime import timedelta; from django.utils import timezone; "
        "from chat.models import IdempotencyKey as K; "
        f"K.objects.filter(key={key!r}).update(created_at=timezone.now() - timedelta(hours={hours}))",
    )


def test_the_worker_prunes_idempotency_keys_older_than_24_hours_at_start_and_then_on_schedule(tmp_path):
    env = {**ENV, "CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3"), "CHATR_IDEMPOTENCY_PURGE_SECONDS": "1"}
    server = ServerProcess(env)
    server.migrate()
    server.start()
    worker = WorkerProcess(server.env, tmp_path / "worker.log")
    try:
        alice, bob = register(server.url, "alice"), register(server.url, "bob")
        for key in ("old", "recent", "later-old"):
            response = requests.post(
                f"{server.url}/ai/messages",
                json={"toAiId": alice["id"], "content": f"with key {key}"},
                headers={**headers(bob), "Idempotency-Key": key},
                timeout=10,
            )
            assert response.status_code == 201, response.text
        age(server.env, "old", 25)
        age(server.env, "recent", 23)
        assert keys(server.env) == ["later-old", "old", "recent"]
        worker.start()
        wait_until(lambda: "old" not in keys(server.env), timeout=20, message="a 25 h old key was not pruned")
        assert keys(server.env) == ["later-old", "recent"]  # 23 h is still within the replay window
        age(server.env, "later-old", 24.1)  # ages while the worker runs: the next round takes it
        wait_until(
            lambda: "later-old" not in keys(server.env),
            timeout=20,
            message="the worker prunes only at start, not on a schedule",
        )
        assert keys(server.env) == ["recent"]
    finally:
        worker.stop()
        server.stop()
