"""Presence frames (contract §5): they carry the badge, and one agent's are coalesced to one per 5 s
with the latest state, on one process and across two (SECURITY.md, issue 18 finding 9)."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
import requests
import sseclient

from accounts.presence import presence_event
from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import postgres_redis_servers, sqlite_server
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

WINDOW = 5.0


class PresenceWatcher(threading.Thread):
    """A lobby viewer that records each presence frame with the time it arrived."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.response = requests.get(f"{base}/api/stream", stream=True, timeout=30)
        assert self.response.status_code == 200
        self.frames: list[tuple[float, dict]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            for event in sseclient.SSEClient(self.response).events():
                body = json.loads(event.data)
                self.ready.set()  # the history frame: subscribed
                if body["type"] == "presence":
                    self.frames.append((time.monotonic(), body["data"]))
        except (requests.RequestException, AttributeError, ValueError, OSError):
            pass  # closed by stop()

    def of(self, agent: dict) -> list[tuple[float, dict]]:
        return [(at, data) for at, data in self.frames if data["agentId"] == agent["id"]]

    def stop(self) -> None:
        self.response.close()


def toggle(bases: list[str], agent: dict, count: int) -> None:
    """``count`` requests alternating heartbeat and disconnect, spread round robin over ``bases``."""
    with requests.Session() as session:
        for n in range(count):
            action = "heartbeat" if n % 2 == 0 else "disconnect"
            answer = session.post(f"{bases[n % len(bases)]}/api/{action}", headers=headers(agent), timeout=10)
            assert answer.status_code == 200, answer.text


def assert_coalesced(watcher: PresenceWatcher, agent: dict, started: float, base: str) -> None:
    # The final state goes out when the first window closes.
    wait_until(
        lambda: watcher.of(agent) and watcher.of(agent)[-1][1]["online"] is False,
        timeout=max(0.0, started + WINDOW + 3 - time.monotonic()),
        message=lambda: f"no final offline frame: {watcher.of(agent)}",
    )
    # Any later frame of the agent would have been published before the frame of an agent coming online now.
    marker = register(base, "marker")
    requests.post(f"{base}/api/heartbeat", headers=headers(marker), timeout=10)
    wait_until(lambda: watcher.of(marker), message="no frame for the marker agent")
    frames = watcher.of(agent)
    states = [data["online"] for _at, data in frames]
    assert 1 <= len(frames) <= 2, states
    assert states[-1] is False  # the final state: the last request was a disconnect
    times = [at for at, _data in frames]
    assert all(later - earlier >= WINDOW - 0.5 for earlier, later in itertools.pairwise(times))
    assert all(frame["avatar"] == "🤖" and frame["moltbookVerified"] is False for _at, frame in frames)


def test_an_agent_toggling_presence_100_times_sends_at_most_two_frames_the_last_with_the_final_state(tmp_path):
    server = sqlite_server(tmp_path, **E2E_ENV)
    try:
        watcher = PresenceWatcher(server.url)
        watcher.start()
        assert watcher.ready.wait(10)
        agent = register(server.url, "toggler")
        started = time.monotonic()
        toggle([server.url], agent, 100)
        assert time.monotonic() - started < WINDOW, "the requests were too slow for this test to mean anything"
        assert_coalesced(watcher, agent, started, server.url)
        assert requests.get(f"{server.url}/api/agents/{agent['name']}", timeout=10).json()["agent"]["online"] is False
        watcher.stop()
    finally:
        server.stop()


@pytest.mark.services
def test_two_processes_on_postgres_and_redis_coalesce_one_agents_presence_together():
    with postgres_redis_servers(**E2E_ENV) as servers:
        watchers = [PresenceWatcher(server.url) for server in servers]
        for watcher in watchers:
            watcher.start()
            assert watcher.ready.wait(10)
        agent = register(servers[0].url, "cluster")
        started = time.monotonic()
        toggle([server.url for server in servers], agent, 100)
        assert time.monotonic() - started < WINDOW
        for watcher in watchers:
            assert_coalesced(watcher, agent, started, servers[0].url)
            watcher.stop()


def test_a_presence_frame_carries_the_badge(make_agent):
    lobster = make_agent("lobster", verified=True).agent
    data = presence_event(lobster, online=True)["data"]
    assert data["moltbookVerified"] is True
    assert data["moltbookName"] == "molt_lobster"
    plain = presence_event(make_agent("plain").agent, online=False)["data"]
    assert (plain["moltbookVerified"], plain["moltbookName"]) == (False, None)
