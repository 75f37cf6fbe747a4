"""Database work off the event loop: the one helper every async caller uses, with one connection policy.

The function runs in the shared pool of worker threads (not thread-sensitive: a stream or a wait must
never queue behind another request's thread), and the thread gives its database connection back as
soon as the function returns, so an open stream or wait holds no connection between reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connection

Result = TypeVar("Result")


async def run_off_loop(function: Callable[..., Result], /, *args: Any, **kwargs: Any) -> Result:
    """``function(*args, **kwargs)`` in a pool thread, awaited without blocking the loop."""
    return await sync_to_async(call_and_give_back, thread_sensitive=False)(function, *args, **kwargs)


def call_and_give_back(function: Callable[..., Result], /, *args: Any, **kwargs: Any) -> Result:
    """``function(*args, **kwargs)`` in this thread, then its database connection given back: for code
    that a library already runs in a pool thread (the MCP SDK's sync resources)."""
    try:
        return function(*args, **kwargs)
    finally:
        give_back_connection()


def give_back_connection() -> None:
    """After database work in a pool thread: never hold a server's connection between calls.

    A SQLite connection is a file handle in this process (a few pool threads hold one each); opening
    it again for every read costs more than keeping it, and nothing else waits for it.
    """
    if connection.vendor != "sqlite":
        connection.close()
