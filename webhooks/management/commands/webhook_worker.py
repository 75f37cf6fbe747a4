"""``manage.py webhook_worker``: django-tasks' database worker plus the webhook sweep.

The worker runs queued tasks (webhook deliveries); beside it a thread re-enqueues deliveries whose
task was lost, once at start and then every ``CHATR_WEBHOOK_SWEEP_SECONDS``, and prunes the task
engine's finished rows older than ``CHATR_TASK_RESULTS_KEEP_SECONDS`` every
``CHATR_TASK_RESULTS_PRUNE_SECONDS`` (so the table does not grow by one row per attempt forever).
Run as many workers as needed, on any machine that reaches the database; each takes one task at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from webhooks import services

logger = logging.getLogger("chatr.webhooks")


def sweep_forever(interval: float, stop: threading.Event) -> None:
    pruned_at = float("-inf")
    while not stop.is_set():
        try:
            services.enqueue_due_deliveries()
            if time.monotonic() - pruned_at >= settings.CHATR_TASK_RESULTS_PRUNE_SECONDS:
                pruned_at = time.monotonic()
                keep = timedelta(seconds=settings.CHATR_TASK_RESULTS_KEEP_SECONDS)
                pruned = services.prune_task_results(finished_before=timezone.now() - keep)
                if pruned:
                    logger.info("pruned %d finished task results", pruned)
        except Exception:  # the sweep must outlive a database hiccup
            logger.exception("webhook sweep failed")
        finally:
            close_old_connections()
        stop.wait(min(interval, settings.CHATR_TASK_RESULTS_PRUNE_SECONDS))


class Command(DbWorkerCommand):
    help = "Run a background worker: webhook deliveries, with a sweep for deliveries whose task was lost."

    def handle(self, *args: Any, **options: Any) -> None:
        # The code reloader would run the sweep in two processes; restart workers on deploy instead.
        options["reload"] = False
        stop = threading.Event()
        sweeper = threading.Thread(
            target=sweep_forever, args=(settings.CHATR_WEBHOOK_SWEEP_SECONDS, stop), name="webhook-sweep", daemon=True
        )
        sweeper.start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
