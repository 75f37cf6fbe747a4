"""wait_for_messages and wait_for_direct_messages: woken by the hub, bounded, capped, and safe on rotation."""

import asyncio
import time

import pytest
import requests

from tests.aio import run as run_async
from tests.mcp_server.client import acall, call, error, ok, register, session
from tests.waiting import wait_until_async

pytestmark = pytest.mark.e2e


def rest_post(base: str, key: str, content: str) -> dict:
    response = requests.post(
        f"{base}/api/messages", headers={"Authorization": f"Bearer {key}"}, json={"content": content}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def hub_status(base: str) -> dict:
    return requests.get(f"{base}/api/stream/status", timeout=10).json()


async def parked(base: str, count: int = 1) -> None:
    """Return once the server holds ``count`` hub subscriptions: the waits are waiting, not still starting."""
    await wait_until_async(
        lambda: asyncio.to_thread(lambda: hub_status(base)["subscribers"] >= count), message="the waits never parked"
    )


async def wait_then_post(base: str, wait: dict, post, *, key: str | None = None):
    """Start a wait, post once it waits (in a thread), return (result, posted, seconds after the post)."""
    waiting = asyncio.create_task(acall(base, wait.pop("tool"), wait, key=key))
    await parked(base)
    assert not waiting.done(), waiting.result().structured_content
    posted = await asyncio.to_thread(post)
    posted_at = time.monotonic()
    result = await waiting
    return result, posted, time.monotonic() - posted_at


def test_a_wait_is_woken_within_a_second_of_a_post(server):
    poster = register(server.url)["apiKey"]
    cursor = ok(call(server.url, "read_messages", {"limit": 1}))["cursor"]
    wait = {"tool": "wait_for_messages", "after": int(cursor), "timeout_seconds": 30}
    result, posted, seconds = run_async(
        wait_then_post(server.url, wait, lambda: rest_post(server.url, poster, "wake up"))
    )
    answer = ok(result)
    assert answer["messages"] == [posted] and answer["cursor"] == posted["id"] and answer["timedOut"] is False
    assert seconds < 1.0
    assert hub_status(server.url)["subscribers"] == 0  # the wait let go of its subscription


def test_a_wait_with_nothing_new_times_out_empty(server):
    cursor = ok(call(server.url, "read_messages", {"limit": 1}))["cursor"]
    started = time.monotonic()
    answer = ok(call(server.url, "wait_for_messages", {"after": int(cursor), "timeout_seconds": 1}))
    assert answer == {"room": "lobby", "messages": [], "cursor": cursor, "timedOut": True}
    assert 1.0 <= time.monotonic() - started < 3.0


def test_a_wait_returns_at_once_what_is_already_there(server):
    poster = register(server.url)["apiKey"]
    posted = rest_post(server.url, poster, "already here")
    started = time.monotonic()
    answer = ok(call(server.url, "wait_for_messages", {"after": int(posted["id"]) - 1, "timeout_seconds": 30}))
    assert answer["messages"][0] == posted and answer["timedOut"] is False
    assert time.monotonic() - started < 2.0


def test_a_group_wait_is_woken_by_a_group_post(server):
    owner = register(server.url)["apiKey"]
    group = ok(call(server.url, "create_group", {"name": "waiters"}, key=owner))["group"]["id"]
    wait = {"tool": "wait_for_messages", "room": group, "after": 0, "timeout_seconds": 30}

    def post() -> dict:
        return ok(call(server.url, "post_message", {"content": "in the group", "room": group}, key=owner))["message"]

    result, posted, seconds = run_async(wait_then_post(server.url, wait, post))
    assert ok(result)["messages"] == [posted] and seconds < 1.0


def test_a_direct_message_wait_is_woken_by_a_direct_message(server):
    sender, recipient = register(server.url), register(server.url)
    wait = {"tool": "wait_for_direct_messages", "timeout_seconds": 30}

    def send() -> dict:
        arguments = {"to": recipient["agent"]["id"], "content": "are you there?"}
        return ok(call(server.url, "send_direct_message", arguments, key=sender["apiKey"]))["message"]

    result, sent, seconds = run_async(wait_then_post(server.url, wait, send, key=recipient["apiKey"]))
    answer = ok(result)
    assert [m["id"] for m in answer["messages"]] == [sent["id"]] and answer["cursor"] == sent["id"]
    assert answer["messages"][0]["from_ai"]["id"] == sender["agent"]["id"]
    assert seconds < 1.0
    empty = ok(call(server.url, "wait_for_direct_messages", {"timeout_seconds": 1}, key=recipient["apiKey"]))
    assert empty["messages"] == [] and empty["timedOut"] is True and empty["cursor"] == sent["id"]


def test_waits_are_bounded_and_capped_per_agent(server):
    key = register(server.url)["apiKey"]
    cursor = int(ok(call(server.url, "read_messages", {"limit": 1}))["cursor"])
    too_long = error(call(server.url, "wait_for_messages", {"after": cursor, "timeout_seconds": 61}, key=key))
    assert too_long["code"] == "validation_error"

    async def three_waits():
        # The test server allows 2 waits per agent (CHATR_MCP_WAITS_PER_AGENT=2).
        arguments = {"after": cursor, "timeout_seconds": 2}
        first = [asyncio.create_task(acall(server.url, "wait_for_messages", arguments, key=key)) for _ in range(2)]
        await parked(server.url, 2)
        third = await acall(server.url, "wait_for_messages", arguments, key=key)
        return third, await asyncio.gather(*first)

    third, first = run_async(three_waits())
    refused = error(third)
    assert refused["code"] == "too_many_waits" and refused["retry_after"] >= 1
    assert all(ok(result)["timedOut"] for result in first)
    ok(call(server.url, "wait_for_messages", {"after": cursor, "timeout_seconds": 1}, key=key))  # slots came back


def test_a_wait_never_hands_messages_to_a_rotated_key(server):
    waiter, poster = register(server.url), register(server.url)
    cursor = int(ok(call(server.url, "read_messages", {"limit": 1}))["cursor"])

    async def scenario():
        async with session(server.url, waiter["apiKey"]) as opened:
            waiting = asyncio.create_task(
                opened.call_tool("wait_for_messages", {"after": cursor, "timeout_seconds": 20})
            )
            await parked(server.url)
            headers = {"Authorization": f"Bearer {waiter['apiKey']}"}
            await asyncio.to_thread(requests.post, f"{server.url}/api/keys/rotate", headers=headers, timeout=10)
            await asyncio.to_thread(rest_post, server.url, poster["apiKey"], "not for the old key")
            return await asyncio.wait_for(waiting, 5)

    assert error(run_async(scenario()))["code"] == "unauthorized"
