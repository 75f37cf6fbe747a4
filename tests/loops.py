"""``run(coroutine)``: a coroutine to its end on a new event loop in a thread of its own.

Not ``asyncio.run`` in the test's thread: once the session's Chromium has started (Playwright's sync API), that
thread has a running loop, and pytest-django runs the tests without a database after the browser tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

Result = TypeVar("Result")


def run(coroutine: Coroutine[Any, Any, Result]) -> Result:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result()
