"""The real webhook worker process on PostgreSQL, delivering to a real receiver, and pruning the task
engine's finished rows on its own schedule (no command to remember)."""

from __future__ import annotations

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.clients import register
from tests.server import ServerProcess
from tests.services import fresh_postgres_database
from tests.waiting import wait_until
from tests.webhooks.processes import WorkerProcess
from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.test_e2e import ENV, send_direct, set_webhook

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute(sql).fetchone()[0]


def test_the_worker_on_postgres_delivers_retries_and_prunes_finished_task_results(tmp_path):
    with fresh_postgres_database() as database_url:
        env = {
            **ENV,
            "DATABASE_URL": database_url,
            "CHATR_WEBHOOK_RETRY_DELAYS": "1,1,1",
            "CHATR_TASK_RESULTS_KEEP_SECONDS": "3",
            "CHATR_TASK_RESULTS_PRUNE_SECONDS": "0.5",
            # Five first attempts fail in a row here, which would pause the endpoint for a minute:
            # the circuit breaker is tested in test_stall.py, not here.
            "CHATR_WEBHOOK_BREAKER_FAILURES": "100",
        }
        server = ServerProcess(env)
        server.migrate()
        server.start()
        worker = WorkerProcess(server.env, tmp_path / "worker.log")
        seen: dict[str, int] = {}

        def fail_once(received, _seen) -> Reply:
            webhook_id = received.headers["webhook-id"]
            seen[webhook_id] = seen.get(webhook_id, 0) + 1
            return Reply(503) if seen[webhook_id] == 1 else Reply(200)

        try:
            with Receiver(reply_for=fail_once) as hook:
                alice, bob = register(server.url, "alice"), register(server.url, "bob")
                secret = set_webhook(server.url, alice, hook.url)
                worker.start()
                for n in range(5):
                    send_direct(server.url, bob, alice, f"on postgres {n}")
                received = hook.wait_for(10, timeout=30)  # each one: a 503, then a retry that lands
                contents = sorted(
                    Webhook(secret).verify(each.body, each.headers)["message"]["content"] for each in received
                )
                assert contents == sorted([f"on postgres {n}" for n in range(5)] * 2)
                succeeded = "SELECT count(*) FROM webhooks_delivery WHERE status = 'succeeded'"
                wait_until(
                    lambda: count(database_url, succeeded) >= 5,
                    timeout=20,
                    message=lambda: (tmp_path / "worker.log").read_text()[-2000:],
                )
                finished = "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE finished_at IS NOT NULL"
                assert count(database_url, finished) >= 5  # kept for a while: younger than 3 s
                wait_until(
                    lambda: count(database_url, "SELECT count(*) FROM django_tasks_database_dbtaskresult") == 0,
                    timeout=15,
                    message="the worker never pruned the finished task results",
                )
                attempts = count(database_url, "SELECT count(*) FROM webhooks_attempt")
                assert attempts == 10  # the deliveries' own record outlives the engine's rows
        finally:
            worker.stop()
            server.stop()
