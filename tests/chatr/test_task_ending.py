"""``chatr.pipeline.ended``: a stream's task ends when its client leaves, even if something swallowed the cancel."""

from __future__ import annotations

import asyncio
import contextlib
import time

from chatr import pipeline
from tests.loops import run


def test_a_task_that_swallows_the_first_cancel_is_cancelled_again(monkeypatch, caplog):
    monkeypatch.setattr(pipeline, "RECANCEL_SECONDS", 0.05)
    cancels = []

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as wait_for does when its future completed meanwhile
            await asyncio.Event().wait()  # nothing ever sets it: only a cancel ends this await
        cancels.append(1)
        await asyncio.Event().wait()  # "serving" a connection that is gone

    async def scenario() -> asyncio.Task:
        task = asyncio.ensure_future(stubborn())
        await asyncio.sleep(0)
        await asyncio.wait_for(pipeline.ended(task), timeout=5)
        return task

    task = run(scenario())
    assert task.cancelled() and cancels == [1]
    assert "swallowed" in caplog.text  # the log says that some code swallows cancels


def test_a_task_that_ends_at_the_first_cancel_is_not_waited_for():
    async def scenario() -> float:
        task = asyncio.ensure_future(asyncio.Event().wait())
        await asyncio.sleep(0)
        started = time.monotonic()
        await pipeline.ended(task)
        assert task.cancelled()
        return time.monotonic() - started

    assert run(scenario()) < pipeline.RECANCEL_SECONDS / 2


def test_an_ended_task_is_left_as_it_is():
    async def scenario() -> asyncio.Task:
        task = asyncio.ensure_future(asyncio.sleep(0, result="done"))
        await task
        await pipeline.ended(task)
        return task

    assert run(scenario()).result() == "done"
