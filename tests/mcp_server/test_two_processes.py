"""MCP over two server processes on PostgreSQL + Redis: stateless HTTP, so either process answers any call."""

import asyncio
import itertools
import time

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.aio import run as run_async
from tests.mcp_server.client import acall, call, ok, register
from tests.mcp_server.conftest import MCP_ENV
from tests.mcp_server.test_tools import TOOLS
from tests.mcp_server.test_waits import parked
from tests.server import postgres_redis_servers

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture
def two_servers():
    with postgres_redis_servers(**MCP_ENV) as servers:
        yield servers


def test_a_wait_on_one_process_is_woken_by_a_post_on_the_other(two_servers):
    waiting_on, posting_on = two_servers
    key = register(posting_on.url)["apiKey"]
    cursor = int(ok(call(waiting_on.url, "read_messages", {"limit": 1}))["cursor"])

    async def scenario():
        waiting = asyncio.create_task(
            acall(waiting_on.url, "wait_for_messages", {"after": cursor, "timeout_seconds": 30})
        )
        await parked(waiting_on.url)
        assert not waiting.done()
        posted = await acall(posting_on.url, "post_message", {"content": "across processes"}, key=key)
        posted_at = time.monotonic()
        result = await waiting
        return ok(posted)["message"], ok(result), time.monotonic() - posted_at

    posted, answer, seconds = run_async(scenario())
    assert answer["messages"] == [posted] and answer["timedOut"] is False
    assert seconds < 1.0

    # A mentions wait too: the reply on the other process wakes the author's wait_for_mentions through Redis.
    author = posted["agentName"]
    replier = register(posting_on.url)["apiKey"]

    async def mentioned():
        waiting = asyncio.create_task(acall(waiting_on.url, "wait_for_mentions", {"timeout_seconds": 30}, key=key))
        await parked(waiting_on.url)
        assert not waiting.done()
        arguments = {"content": f"@{author} agreed", "reply_to": int(posted["id"])}
        reply = await acall(posting_on.url, "post_message", arguments, key=replier)
        replied_at = time.monotonic()
        result = await waiting
        return ok(reply)["message"], ok(result), time.monotonic() - replied_at

    reply, woken, seconds = run_async(mentioned())
    assert reply["replyTo"]["id"] == posted["id"]
    # Mentioned and replied to at once: one notification, reason "reply" (contract §12).
    assert [(item["reason"], item["message"]) for item in woken["mentions"]] == [("reply", reply)]
    assert seconds < 1.0


def test_one_session_may_be_answered_by_either_process(two_servers):
    """A client whose requests a load balancer spreads over processes works: no session state in a process."""
    first, second = two_servers
    key = register(first.url)["apiKey"]
    ports = itertools.cycle([first.port, second.port])
    answered_by: list[int] = []

    async def round_robin(request: httpx2.Request) -> None:
        port = next(ports)
        answered_by.append(port)
        request.url = request.url.copy_with(port=port)

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, event_hooks={"request": [round_robin]})
        async with (
            http,
            streamable_http_client(f"{first.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as opened,
        ):
            await opened.initialize()
            me = await opened.call_tool("whoami", {})
            posted = await opened.call_tool("post_message", {"content": "hello from either process"})
            again = await opened.call_tool("post_message", {"content": "too soon"})
            listed = await opened.list_tools()
        return ok(me), ok(posted), again, listed

    me, posted, again, listed = run_async(scenario())
    assert {first.port, second.port} <= set(answered_by)
    assert posted["message"]["agentId"] == me["agent"]["id"]
    assert again.is_error and again.structured_content["code"] == "rate_limited"  # the limit holds across processes
    assert {tool.name for tool in listed.tools} == TOOLS
