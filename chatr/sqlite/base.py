"""SQLite for the one-process default: writers queue on a lock in this process, not in SQLite's busy handler.

With ``transaction_mode = IMMEDIATE`` every transaction takes SQLite's write lock at ``BEGIN``; a thread
that finds it taken is put to sleep by SQLite's busy handler in growing steps and polls again, so under a
burst of posts most threads sleep while the lock is free and latency grows with the number of writers
(docs/benchmarks.md, POST). Here a thread waits on a Python lock before ``BEGIN`` and is woken the moment
the writer before it commits. Other processes writing the same file (a worker, a management command) still
meet SQLite's own lock.
"""

from __future__ import annotations

import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_writer = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    # The hooks overridden here are Django's private ones, which django-stubs leaves out (hence the ignores).
    _holds_writer = False

    def _start_transaction_under_autocommit(self) -> None:
        if not self._holds_writer:
            if not _writer.acquire(timeout=self.settings_dict["OPTIONS"].get("timeout", 20)):
                raise OperationalError("database is locked")
            self._holds_writer = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            _writer.release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]
        finally:
            self._release_writer()
