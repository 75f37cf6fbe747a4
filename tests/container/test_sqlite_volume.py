"""The image on SQLite with its data on a volume: serve, stop gracefully, start again, upgrade to a new container."""

from __future__ import annotations

import pytest
import requests

from tests.container.podman import Container, podman
from tests.e2e.clients import headers, register
from tests.scale.tools import Reader

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


def test_a_stop_ends_within_the_grace_and_a_streaming_reader_resumes_after_the_start_with_nothing_missed(
    sqlite_container,
):
    agent = register(sqlite_container.url, "steady")
    reader = Reader(sqlite_container.url)
    reader.start()
    try:
        assert reader.connected.wait(15)
        before = [post(sqlite_container.url, agent, f"before {n}") for n in range(3)]
        reader.wait_for(set(before))
        took = sqlite_container.stop()
        assert sqlite_container.exit_code == 0, sqlite_container.logs()  # stopped by itself, not killed
        assert took < STOP_WITHIN_SECONDS, f"podman stop took {took:.1f} s"
        sqlite_container.start()
        after = [post(sqlite_container.url, agent, f"after {n}") for n in range(3)]
        reader.wait_for(set(after))
    finally:
        reader.stop()
    assert reader.connects >= 2
    mine = [number for number in reader.ids if number in set(before + after)]
    assert mine == before + after  # each once, in order: resumed with Last-Event-ID, not replayed
    assert {"before 0", "after 2"} <= set(contents(sqlite_container.url))


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
