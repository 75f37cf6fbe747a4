"""Waiting for a signal instead of sleeping: poll a condition often and fail at a deadline.

A fixed sleep is either too long (the suite pays it every run) or too short (the test flakes on a
busy machine); a condition polled every few milliseconds returns as soon as it holds and waits as
long as a slow machine needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _explain(message: str | Callable[[], str]) -> str:
    return message() if callable(message) else message


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = 10,
    interval: float = 0.02,
    message: str | Callable[[], str] = "",
) -> T:
    """``condition()``'s first truthy answer; an AssertionError (with ``message``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"still not true after {timeout} s: {_explain(message) or condition}")
        time.sleep(interval)


async def wait_until_async(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 10,
    interval: float = 0.02,
    message: str | Callable[[], str] = "",
) -> T:
    """``wait_until`` for a test running on an event loop; ``condition`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"still not true after {timeout} s: {_explain(message) or condition}")
        await asyncio.sleep(interval)
