"""Run a coroutine to its end from a test, whatever the test's thread is doing.

Playwright's sync API (the session's one Chromium, tests/conftest.py) keeps an event loop running in the main
thread once a browser test has started, and ``asyncio.run`` refuses to start a second one there. A fresh thread
has no loop: each coroutine gets its own loop in one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result()
