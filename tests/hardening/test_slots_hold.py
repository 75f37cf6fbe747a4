"""Open streams and MCP waits keep their slots however many other slots exist (SECURITY.md, "Stream slots").

On the default configuration (one process, no Redis) the slots once lived in Django's local-memory cache,
which culls a third of its entries when it holds 300: once about 300 streams were open anywhere, the
oldest streams' slots vanished and their addresses could open 10 more, and more again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.clients import headers
from tests.e2e.conftest import E2E_ENV
from tests.mcp_server.client import call, error, ok, register
from tests.server import sqlite_server
from tests.sse import RawStream, wait_for_status

pytestmark = pytest.mark.e2e

ADDRESSES = [f"127.0.0.{number}" for number in range(2, 34)]  # 32 addresses × 10 streams: past 300 slots


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(
        tmp_path_factory.mktemp("chatr-slots"),
        server="uvicorn",
        **E2E_ENV,
        CHATR_STREAM_STATUS="1",
        CHATR_MCP_WAITS_PER_AGENT="2",
        CHATR_STREAM_PING_SECONDS="60",
    )
    yield process
    process.stop()


def test_every_address_with_ten_open_streams_gets_429_however_many_streams_are_open(server):
    wait_for_status(server.url, openStreams=0, subscribers=0)
    agent = register(server.url, "slots")
    cursor = int(ok(call(server.url, "read_messages", {"limit": 1}))["cursor"])
    arguments = {"after": cursor, "timeout_seconds": 60}
    with ThreadPoolExecutor(2) as pool:
        # The agent's two waits are the oldest slots of all: the first a cull would take.
        held = [pool.submit(call, server.url, "wait_for_messages", arguments, key=agent["apiKey"]) for _ in range(2)]
        wait_for_status(server.url, subscribers=2)
        streams: list[RawStream] = []
        try:
            for address in ADDRESSES:
                for _ in range(10):
                    streams.append(RawStream(server.port, source=address))
                    assert streams[-1].status() == 200, address
            for address in ADDRESSES:
                eleventh = RawStream(server.port, source=address)
                try:
                    assert eleventh.status() == 429, address
                finally:
                    eleventh.close()
            third = call(server.url, "wait_for_messages", {"after": cursor, "timeout_seconds": 1}, key=agent["apiKey"])
            assert error(third)["code"] == "too_many_waits"
        finally:
            for stream in streams:
                stream.close()
            posted = requests.post(
                f"{server.url}/api/messages", headers=headers(agent), json={"content": "wake up"}, timeout=30
            )
            assert posted.status_code == 201, posted.text
        assert all(ok(wait.result(timeout=60))["timedOut"] is False for wait in held)
    wait_for_status(server.url, openStreams=0, subscribers=0)
