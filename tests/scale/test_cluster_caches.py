"""The in-process caches of a group post (chat.memberships, webhooks.subscribers) stay exact across processes: a
change made through one server is seen by the other's next post, through the versions in Redis (issue 22)."""

from __future__ import annotations

import psycopg
import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import postgres_redis_servers

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture(scope="module")
def cluster():
    with postgres_redis_servers(**E2E_ENV, CHATR_RATELIMITS="off", CHATR_WEBHOOK_ALLOW_PRIVATE="1") as servers:
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
