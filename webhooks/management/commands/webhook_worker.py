"""``manage.py webhook_worker``: django-tasks' database worker, many at once, plus the housekeeping jobs.

The process runs up to ``--concurrency`` (``CHATR_WEBHOOK_CONCURRENCY``, 32) attempts at once, so a
receiver that never answers holds one slot for at most the 5 s timeout instead of the whole queue
(``webhooks.services.deliver`` keeps any one endpoint to a few of them). Beside them a thread runs the
jobs of ``CHATR_WORKER_JOBS``, each at start and then every so many seconds: by default the webhook
sweep, which re-enqueues deliveries whose task was lost (every ``CHATR_WEBHOOK_SWEEP_SECONDS``); the
pruning of the task engine's finished rows older than ``CHATR_TASK_RESULTS_KEEP_SECONDS`` (every
``CHATR_TASK_RESULTS_PRUNE_SECONDS``, so the table does not grow by one row per attempt forever); and
the purge of idempotency keys older than 24 h (every ``CHATR_IDEMPOTENCY_PURGE_SECONDS``, an hour).
The jobs are named by dotted path, so this app imports none of the apps whose rows they clean.
Run as many workers as needed, on any machine that reaches the database.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker

logger = logging.getLogger("chatr.webhooks")


def run_jobs_forever(jobs: Mapping[str, float], stop: threading.Event) -> None:
    """Run each job (dotted path → seconds between runs) at start and then on its schedule, until ``stop``.

    A job that fails is logged and tried again at its next turn: the housekeeping must outlive a
    database hiccup, or what it purges (idempotency keys, task results) grows without end.
    """
    scheduled: list[tuple[str, Callable[[], int], float]] = [
        (path, import_string(path), seconds) for path, seconds in jobs.items()
    ]
    due = {path: 0.0 for path, _, _ in scheduled}
    while scheduled and not stop.is_set():
        for path, job, seconds in scheduled:
            if time.monotonic() < due[path]:
                continue
            due[path] = time.monotonic() + seconds
            try:
                done = job()
                if done:
                    logger.info("%s: %d rows", path, done)
            except Exception:
                logger.exception("housekeeping job %s failed", path)
            finally:
                close_old_connections()
        stop.wait(max(min(due.values()) - time.monotonic(), 0.0))


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
    help = "Run a background worker: webhook deliveries, and the housekeeping jobs of CHATR_WORKER_JOBS."

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
            target=run_jobs_forever, args=(settings.CHATR_WORKER_JOBS, stop), name="housekeeping", daemon=True
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
