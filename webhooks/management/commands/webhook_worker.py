"""``manage.py webhook_worker``: django-tasks' database worker, many at once, plus the webhook sweep.

The process runs up to ``--concurrency`` (``CHATR_WEBHOOK_CONCURRENCY``, 32) attempts at once, so a
receiver that never answers holds one slot for at most the 5 s timeout instead of the whole queue
(``webhooks.services.deliver`` keeps any one endpoint to a few of them). Beside them a thread
re-enqueues deliveries whose task was lost, once at start and then every ``CHATR_WEBHOOK_SWEEP_SECONDS``;
prunes the task engine's finished rows older than ``CHATR_TASK_RESULTS_KEEP_SECONDS`` every
``CHATR_TASK_RESULTS_PRUNE_SECONDS`` (so the table does not grow by one row per attempt forever); and
purges idempotency keys older than 24 h every ``CHATR_IDEMPOTENCY_PURGE_SECONDS`` (an hour).
Run as many workers as needed, on any machine that reaches the database.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker

from chat import services as chat_services
from webhooks import services

logger = logging.getLogger("chatr.webhooks")


def sweep_forever(interval: float, stop: threading.Event, *, purge_every: float = 3600.0) -> None:
    """The worker's housekeeping: the webhook sweep every ``interval`` seconds; the task engine's old
    rows every ``CHATR_TASK_RESULTS_PRUNE_SECONDS``; and every ``purge_every`` seconds (first at start)
    the idempotency keys past their 24 h window, which would otherwise grow without end (security
    review II, finding 11)."""
    pruned_at = float("-inf")
    next_purge = 0.0
    while not stop.is_set():
        try:
            services.enqueue_due_deliveries()
            if time.monotonic() - pruned_at >= settings.CHATR_TASK_RESULTS_PRUNE_SECONDS:
                pruned_at = time.monotonic()
                keep = timedelta(seconds=settings.CHATR_TASK_RESULTS_KEEP_SECONDS)
                pruned = services.prune_task_results(finished_before=timezone.now() - keep)
                if pruned:
                    logger.info("pruned %d finished task results", pruned)
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + purge_every
                purged = chat_services.purge_idempotency_keys()
                if purged:
                    logger.info("purged %d idempotency keys older than 24 h", purged)
        except Exception:  # the sweep must outlive a database hiccup
            logger.exception("webhook sweep failed")
        finally:
            close_old_connections()
        stop.wait(min(interval, settings.CHATR_TASK_RESULTS_PRUNE_SECONDS, purge_every))


class PoolWorker(Worker):
    """django-tasks' database worker that runs up to ``slots`` tasks at once, each in a thread.

    One loop polls and claims (so idle polling costs what one worker's does); it claims a task only
    when a slot is free. The first SIGTERM/SIGINT lets the attempts in hand finish and stops (a
    graceful deploy); a second one exits at once, as django-tasks' own worker does.
    """

    def __init__(self, *, slots: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slots = threading.BoundedSemaphore(max(slots, 1))
        self.threads: set[threading.Thread] = set()
        self.threads_lock = threading.Lock()

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        if not self.running:
            logger.warning("Received %s again - exiting now.", signal.strsignal(signum))
            sys.exit(1)
        logger.warning("Received %s - finishing the attempts in hand...", signal.strsignal(signum))
        self.running = False

    def run(self) -> None:
        try:
            super().run()
        finally:
            with self.threads_lock:
                running = list(self.threads)
            for thread in running:
                while thread.is_alive():
                    thread.join(0.5)  # a timed join lets the main thread take a second signal

    def run_task(self, db_task_result: Any) -> None:
        # Claimed already: wait for a slot (the loop claims nothing else meanwhile), then run aside.
        self.slots.acquire()
        thread = threading.Thread(target=self._run_in_slot, args=(db_task_result,), daemon=True)
        with self.threads_lock:
            self.threads.add(thread)
        thread.start()

    def _run_in_slot(self, db_task_result: Any) -> None:
        try:
            super().run_task(db_task_result)
        finally:
            close_old_connections()
            self.slots.release()
            with self.threads_lock:
                self.threads.discard(threading.current_thread())


class Command(DbWorkerCommand):
    help = "Run a background worker: webhook deliveries, with a sweep for deliveries whose task was lost."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.CHATR_WEBHOOK_CONCURRENCY,
            help="Attempts this process runs at once, each in a thread (default: %(default)r)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.configure_logging(options["verbosity"])
        stop = threading.Event()
        sweeper = threading.Thread(
            target=sweep_forever,
            args=(settings.CHATR_WEBHOOK_SWEEP_SECONDS, stop),
            kwargs={"purge_every": settings.CHATR_IDEMPOTENCY_PURGE_SECONDS},
            name="webhook-sweep",
            daemon=True,
        )
        sweeper.start()
        worker = PoolWorker(
            slots=options["concurrency"],
            queue_names=options["queue_name"].split(","),
            interval=options["interval"],
            batch=options["batch"],
            backend_name=options["backend_name"],
            startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"],
            excluded_queue_names=options["exclude_queues"].split(",") if options["exclude_queues"] else [],
        )
        # No code reloader: it would run the sweep in two processes; restart workers on deploy instead.
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()
