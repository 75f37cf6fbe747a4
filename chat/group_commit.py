"""Group commit's queue, shared by the room writer (``chat.writer``) and the direct messages' (``chat.direct_writer``).

The first caller to arrive while no batch is being written becomes the writer: it takes every entry queued so far
(its own first), hands them to the writer's ``write_batch`` (one transaction, one commit), and wakes each waiting
caller with its result. Entries that arrive meanwhile queue; when the batch is done, the first of them is woken to
write the next one. Every caller returns only after the commit that stored its entry. A caller already inside a
transaction (a test, a management command, an Idempotency-Key's) is written on its own there (``write_alone``):
its commit is not the writer's to give.

``write_batch`` sets each entry's ``result`` or ``error``; an exception it raises is every unanswered entry's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from django.db import DatabaseError, IntegrityError, connection

MAX_BATCH = 64

Post = TypeVar("Post")
Result = TypeVar("Result")


class Entry(Generic[Post, Result]):
    """A queued post. ``wake`` is held while its caller waits: released once, to lead a batch or with its result (a
    bare lock: waking a thread through ``threading.Event`` cost several times more)."""

    __slots__ = ("error", "leads", "post", "result", "wake")

    def __init__(self, post: Post) -> None:
        self.post = post
        self.wake = threading.Lock()
        self.wake.acquire()
        self.leads = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Post, Result]):
    def __init__(
        self,
        write_batch: Callable[[list[Entry[Post, Result]]], None],
        write_alone: Callable[[Post], Result],
        per_commit: Any,  # a histogram of the posts each commit stored
    ) -> None:
        self._write_batch = write_batch
        self._write_alone = write_alone
        self._per_commit = per_commit
        self._lock = threading.Lock()
        self._queue: list[Entry[Post, Result]] = []
        self._writing = False

    def store(self, post: Post) -> Result:
        """Store ``post`` with the posts that arrived with it; returns once their transaction has committed."""
        if connection.in_atomic_block:
            return self._write_alone(post)
        entry: Entry[Post, Result] = Entry(post)
        with self._lock:
            self._queue.append(entry)
            entry.leads = not self._writing
            self._writing = True
        if not entry.leads:
            entry.wake.acquire()  # until a leader wrote it, or made it the next leader
        if entry.leads:
            self._lead(entry)
        if entry.error is not None:
            raise entry.error
        return cast(Result, entry.result)

    def store_all(self, posts: list[Post]) -> list[Result | BaseException]:
        """``store`` for several posts of one thread, queued together: each one's result or error, in order."""
        if connection.in_atomic_block:
            return [self._alone_or_error(post) for post in posts]
        entries: list[Entry[Post, Result]] = [Entry(post) for post in posts]
        if not entries:
            return []
        with self._lock:
            self._queue += entries
            entries[0].leads = not self._writing
            self._writing = True
        # The queue is written from its head, so by the time one of ours is woken to lead, those before it are
        # written; those written in another's batch are released (``wake``) with their result.
        failure: BaseException | None = None
        for entry in entries:
            if not entry.leads:
                entry.wake.acquire()
            if entry.leads:
                try:
                    self._lead(entry)
                except BaseException as error:  # every post of that batch has it; ours are still waited for
                    failure = error
        if failure is not None and not isinstance(failure, Exception):
            raise failure
        return [entry.error if entry.error is not None else cast(Result, entry.result) for entry in entries]

    def _alone_or_error(self, post: Post) -> Result | BaseException:
        try:
            return self._write_alone(post)
        except Exception as error:
            return error

    def _lead(self, me: Entry[Post, Result]) -> None:
        """Write the queue's first batch (``me`` first in it), then wake its callers and the next leader."""
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        self._per_commit.observe(len(batch))
        try:
            self._write_batch(batch)
        except BaseException as error:
            for entry in batch:
                if entry.result is None and entry.error is None:
                    entry.error = error
            raise
        finally:
            with self._lock:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._writing = False
            me.leads = False
            for entry in batch:
                if entry is not me:
                    entry.wake.release()
            if following is not None:
                following.leads = True
                following.wake.release()


def fails_everyone(error: Exception) -> bool:
    """A database error other than a broken constraint says nothing about one post of a batch."""
    return isinstance(error, DatabaseError) and not isinstance(error, IntegrityError)
