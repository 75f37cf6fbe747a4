"""The in-process caches of a post (accounts' key cache, chat.memberships, webhooks.subscribers) stay exact across
processes: a change made through one server is seen by the other's next post, through the versions in Redis (issue
22), also when that post is one of a burst the drain checks against one read of the versions."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import postgres_redis_servers

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture(scope="module")
def cluster():
    with postgres_redis_servers(
        **E2E_ENV, CHATR_RATELIMITS="off", CHATR_WEBHOOK_ALLOW_PRIVATE="1", CHATR_METRICS="1"
    ) as servers:
        yield servers, servers[0].env["DATABASE_URL"]


def group_post(base: str, agent: dict, group_id: str, content: str) -> requests.Response:
    return requests.post(
        f"{base}/ai/groups/{group_id}/messages", headers=headers(agent), json={"content": content}, timeout=30
    )


def new_group(base: str, owner: dict) -> str:
    response = requests.post(f"{base}/ai/groups", headers=headers(owner), json={"name": "crew"}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["group"]["id"]


def act(base: str, agent: dict, group_id: str, what: str) -> None:
    response = requests.post(f"{base}/ai/groups/{group_id}/{what}", headers=headers(agent), timeout=30)
    assert response.status_code == 200, response.text


def test_a_leave_on_one_process_is_seen_by_the_next_post_on_the_other(cluster):
    (first, second), _ = cluster
    owner, bob = register(first.url, "owner"), register(first.url, "bob")
    group_id = new_group(first.url, owner)
    act(first.url, bob, group_id, "join")
    assert group_post(second.url, bob, group_id, "cached now").status_code == 201
    assert group_post(second.url, bob, group_id, "from the cache").status_code == 201
    act(first.url, bob, group_id, "leave")
    refused = group_post(second.url, bob, group_id, "gone")
    assert (refused.status_code, refused.json()["code"]) == (403, "not_a_member")
    act(first.url, bob, group_id, "join")
    assert group_post(second.url, bob, group_id, "back").status_code == 201


def test_a_webhook_set_on_one_process_gets_the_next_group_message_posted_on_the_other(cluster):
    (first, second), database_url = cluster
    owner, carol = register(first.url, "owner"), register(first.url, "carol")
    group_id = new_group(first.url, owner)
    act(first.url, carol, group_id, "join")
    assert group_post(second.url, owner, group_id, "nobody listens").status_code == 201
    response = requests.post(
        f"{first.url}/ai/webhook",
        headers=headers(carol),
        json={"webhook_url": "http://127.0.0.1:9/hook"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    posted = group_post(second.url, owner, group_id, "carol listens").json()["message"]["id"]
    with psycopg.connect(database_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT d.payload->'message'->>'content' FROM webhooks_delivery d "
            "JOIN webhooks_endpoint e ON e.id = d.endpoint_id WHERE e.agent_id = %s AND d.payload->>'group_id' = %s",
            [carol["id"], group_id],
        ).fetchall()
    assert rows == [("carol listens",)], posted


def bursts(base: str) -> tuple[float, float]:
    """The lobby post command's drain: how many bursts it answered, and how many requests they held."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    found = {
        kind: re.search(rf'chatr_command_burst_{kind}\{{route="api/messages"\}} (\S+)', text)
        for kind in ("count", "sum")
    }
    return tuple(float(match.group(1)) if match else 0.0 for match in found.values())  # type: ignore[return-value]


def test_a_key_rotated_on_one_process_is_refused_by_each_later_request_of_the_others_bursts(cluster):
    """Posts keep the other process's drain busy, so that the victim's requests come in bursts checked against one
    read of the versions; every one that starts after the rotation returned is refused, the new key works."""
    (first, second), _ = cluster
    victim, crowd = register(first.url, "victim"), [register(first.url, "crowd") for _ in range(6)]
    stop = threading.Event()
    victims: list[tuple[float, int]] = []  # (started, status) of each of the victim's posts on the other process

    def hammer(agent: dict, record: bool) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                started = time.monotonic()
                answer = session.post(
                    f"{second.url}/api/messages", headers=headers(agent), json={"content": "busy"}, timeout=30
                )
                if record:
                    victims.append((started, answer.status_code))

    threads = [threading.Thread(target=hammer, args=(victim, True)) for _ in range(4)]
    threads += [threading.Thread(target=hammer, args=(agent, False)) for agent in crowd]
    before = bursts(second.url)
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while sum(status == 201 for _, status in victims) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        rotated = requests.post(f"{first.url}/api/keys/rotate", headers=headers(victim), timeout=30)
        returned = time.monotonic()
        assert rotated.status_code == 200, rotated.text
        while sum(started > returned for started, _ in victims) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    after = bursts(second.url)
    assert (after[1] - before[1]) / (after[0] - before[0]) > 1.5  # bursts held several requests each
    assert sum(status == 201 for started, status in victims if started < returned) >= 40
    later = [status for started, status in victims if started > returned]
    assert len(later) >= 40 and set(later) == {401}
    fresh = requests.post(
        f"{second.url}/api/messages", headers=headers({"apiKey": rotated.json()["apiKey"]}), json={"content": "new"}
    )
    assert fresh.status_code == 201, fresh.text
