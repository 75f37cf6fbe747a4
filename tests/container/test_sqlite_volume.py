"""The image on SQLite with its data on a volume: serve, stop gracefully, start again, upgrade to a new container."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.container.podman import Container, podman
from tests.e2e.clients import headers, register
from tests.scale.tools import Reader
from tests.waiting import wait_until

pytestmark = [pytest.mark.container, pytest.mark.e2e, pytest.mark.timeout(1800)]

# chatr's documented stop: CHATR_SHUTDOWN_GRACE_SECONDS (3) for open streams, plus process start-up and exit.
STOP_WITHIN_SECONDS = 3 + 5


def post(base: str, agent: dict, content: str) -> int:
    response = requests.post(f"{base}/api/messages", headers=headers(agent), json={"content": content}, timeout=30)
    assert response.status_code == 201, response.text
    return int(response.json()["message"]["id"])


def contents(base: str) -> list[str]:
    response = requests.get(f"{base}/api/messages", params={"limit": 100}, timeout=10)
    assert response.status_code == 200, response.text
    return [message["content"] for message in response.json()["messages"]]


def test_an_agent_registers_posts_and_reads_through_the_container_and_its_health_check_passes(sqlite_container):
    agent = register(sqlite_container.url, "boxed")
    post(sqlite_container.url, agent, "hello from a container")
    assert "hello from a container" in contents(sqlite_container.url)
    assert podman("healthcheck", "run", sqlite_container.name).returncode == 0
    page = requests.get(f"{sqlite_container.url}/", timeout=10)
    assert page.status_code == 200
    # Static files were collected at build and are served by whitenoise from the image.
    assert requests.get(f"{sqlite_container.url}/static/admin/css/base.css", timeout=10).status_code == 200


class Writer(threading.Thread):
    """Posts without pause, through every state of the server (serving, stopping, gone, starting again), and keeps
    the ids of the posts it was answered 201 for: those the server promised to keep."""

    def __init__(self, base: str, agent: dict) -> None:
        super().__init__(daemon=True)
        self.base, self.agent = base, agent
        self.acknowledged: list[int] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            try:
                response = requests.post(
                    f"{self.base}/api/messages", headers=headers(self.agent), json={"content": f"w {n}"}, timeout=5
                )
            except requests.RequestException:
                self.failures += 1
                time.sleep(0.05)
                continue
            if response.status_code == 201:
                self.acknowledged.append(int(response.json()["message"]["id"]))
            else:
                self.failures += 1
            time.sleep(0.02)


def test_a_stop_ends_within_the_grace_and_a_streaming_reader_resumes_after_the_start_with_nothing_missed(
    sqlite_container,
):
    agent = register(sqlite_container.url, "steady")
    reader = Reader(sqlite_container.url)
    writer = Writer(sqlite_container.url, agent)
    reader.start()
    try:
        assert reader.connected.wait(15)
        writer.start()
        wait_until(lambda: len(writer.acknowledged) >= 5, timeout=30, message="no post went through")
        took = sqlite_container.stop()
        assert sqlite_container.exit_code == 0, sqlite_container.logs()  # stopped by itself, not killed
        assert took < STOP_WITHIN_SECONDS, f"podman stop took {took:.1f} s"
        before = list(writer.acknowledged)
        sqlite_container.start()
        wait_until(lambda: len(writer.acknowledged) >= len(before) + 5, timeout=30, message="none after the start")
    finally:
        writer.stopping.set()
        writer.join(10)
    try:
        # Every post answered 201, before, during and after the stop, reaches the reader, which came back with
        # Last-Event-ID: once each, in order.
        reader.wait_for(set(writer.acknowledged))
    finally:
        reader.stop()
    assert writer.failures > 0  # some posts met the server stopped: the stop really happened under the writer
    assert reader.connects >= 2
    assert len(reader.ids) == len(set(reader.ids)), "a message was streamed twice"
    mine = [number for number in reader.ids if number in set(writer.acknowledged)]
    assert mine == writer.acknowledged


def test_a_new_container_on_the_same_volume_keeps_the_messages_the_agents_and_the_secret_key(image, sqlite_container):
    agent = register(sqlite_container.url, "keeper")
    post(sqlite_container.url, agent, "kept across an upgrade")
    key = podman("exec", sqlite_container.name, "cat", "/data/secret_key").stdout
    sqlite_container.remove()
    upgraded = Container(image, volume=sqlite_container.volume, port=sqlite_container.port)
    upgraded.name = sqlite_container.name  # the module fixture removes it
    upgraded.run()
    assert "kept across an upgrade" in contents(upgraded.url)
    me = requests.get(f"{upgraded.url}/api/me", headers=headers(agent), timeout=10)
    assert me.status_code == 200, me.text
    assert podman("exec", upgraded.name, "cat", "/data/secret_key").stdout == key
    assert podman("exec", upgraded.name, "stat", "-c", "%a %U", "/data/secret_key").stdout.split() == ["600", "chatr"]
