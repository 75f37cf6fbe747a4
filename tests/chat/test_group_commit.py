"""Group commit (chat.writer): posts that arrive together are stored by one writer in one transaction, each 201
after the commit that stored it; a post that breaks a rule fails alone. Against a real uvicorn process, over
real sockets, many agents posting at once."""

from __future__ import annotations

import json
import re
import threading
import uuid

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.server import sqlite_server
from tests.sse import RawStream

pytestmark = pytest.mark.e2e

AGENTS = 12
POSTS_EACH = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(
        tmp_path_factory.mktemp("group-commit"),
        server="uvicorn",
        CHATR_METRICS="1",
        CHATR_RATELIMITS="off",
    )
    yield process
    process.stop()


def commits_and_posts(base: str) -> tuple[float, float]:
    """``chatr_posts_per_commit``: how many transactions the writer committed, and how many posts they held."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    count = re.search(r"^chatr_posts_per_commit_count (\S+)$", text, re.MULTILINE)
    total = re.search(r"^chatr_posts_per_commit_sum (\S+)$", text, re.MULTILINE)
    return (float(count.group(1)) if count else 0.0), (float(total.group(1)) if total else 0.0)


def post_all_at_once(base: str, bodies: list[tuple[dict, dict, dict]]) -> list[tuple[dict, requests.Response, str]]:
    """Every body POSTed from its own thread, released together; each answer with the history read right after."""
    start = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def one(index: int, agent: dict, body: dict, extra: dict) -> None:
        with requests.Session() as session:
            session.get(f"{base}/health", timeout=10)  # the connection is open before the barrier
            start.wait()
            answer = session.post(f"{base}/api/messages", json=body, headers={**headers(agent), **extra}, timeout=30)
            seen = ""
            if answer.status_code == 201:
                after = int(answer.json()["message"]["id"]) - 1
                seen = session.get(f"{base}/api/messages?after={after}&limit=1", timeout=10).text
            results[index] = (body, answer, seen)

    threads = [threading.Thread(target=one, args=(n, *item)) for n, item in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_posts_are_stored_once_each_in_commit_order_and_visible_at_their_201(server):
    base = server.url
    agents = [register(base, prefix="gc") for _ in range(AGENTS)]
    viewer = RawStream(server.port)
    assert viewer.status() == 200
    viewer.frames_until(lambda frames: any(frame.type == "history" for frame in frames))
    commits_before, posts_before = commits_and_posts(base)
    bodies = [(agent, {"content": f"burst {n} of {agent['name']}"}, {}) for n in range(POSTS_EACH) for agent in agents]
    bodies.append((agents[0], {"content": "x" * 251}, {}))  # over the lobby's 250: fails alone, before the writer
    results = post_all_at_once(base, bodies)

    created = [(body, answer, seen) for body, answer, seen in results if answer.status_code == 201]
    refused = [(body, answer) for body, answer, _ in results if answer.status_code != 201]
    assert len(created) == AGENTS * POSTS_EACH
    assert [(answer.status_code, answer.json()["code"]) for _, answer in refused] == [(400, "validation_error")]
    ids = []
    for body, answer, seen in created:
        message = answer.json()["message"]
        assert message["content"] == body["content"]
        assert [m["id"] for m in json.loads(seen)["messages"]] == [message["id"]]
        ids.append(int(message["id"]))
    assert len(set(ids)) == len(ids)

    # Stored once each, nothing else stored: the lobby holds exactly these, and the stream delivered them in id
    # order (the order of their commits), each once.
    history = requests.get(f"{base}/api/messages?limit=100", timeout=10).json()["messages"]
    assert sorted(int(m["id"]) for m in history if m["content"].startswith("burst")) == sorted(ids)
    frames = viewer.frames_until(lambda frames: sum(frame.type == "message" for frame in frames) >= len(ids))
    delivered = [int(frame.data["id"]) for frame in frames if frame.type == "message"]
    assert delivered == sorted(ids)
    viewer.close()

    commits, posts = commits_and_posts(base)
    assert posts - posts_before == len(ids)
    assert commits - commits_before < len(ids)  # posts that arrived together shared a transaction


def test_a_post_that_fails_inside_a_batch_fails_alone(server):
    """Two posts with one Idempotency-Key and different bodies, among others: one of the two is stored, the other
    is 409 (whichever the writer meets second), and every other post of the burst is stored."""
    base = server.url
    agents = [register(base, prefix="gk") for _ in range(6)]
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    bodies = [(agents[0], {"content": "first body"}, key), (agents[0], {"content": "second body"}, key)]
    bodies += [(agent, {"content": f"neighbour {n}"}, {}) for n, agent in enumerate(agents[1:] * 3)]
    results = post_all_at_once(base, bodies)
    keyed = sorted(answer.status_code for body, answer, _ in results[:2])
    assert keyed == [201, 409]
    assert all(answer.status_code == 201 for _, answer, _ in results[2:])
    stored = [m["content"] for m in requests.get(f"{base}/api/messages?limit=100", timeout=10).json()["messages"]]
    assert sum(content in ("first body", "second body") for content in stored) == 1
    retried = requests.post(
        f"{base}/api/messages", json=results[0][0], headers={**headers(agents[0]), **key}, timeout=10
    )
    assert retried.status_code in (201, 409)
    if retried.status_code == 201:
        assert retried.headers["Idempotent-Replayed"] == "true"
