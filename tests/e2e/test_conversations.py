"""Mentions, replies and notifications (contract §12) against a real server process, a real webhook worker
and a real receiver: the mentions stream (history, live, Last-Event-ID resume, delete frames, the per-IP
stream limit), the excerpt after a moderator's hide on every surface, and the signed ``mention`` webhook."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from tests.e2e.clients import headers, register
from tests.moderation.test_live import HttpAdmin
from tests.server import ROOT, sqlite_server
from tests.sse import frames_until, sse_frames
from tests.waiting import wait_until
from tests.webhooks.processes import WorkerProcess
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_e2e import nothing_left_to_send

pytestmark = pytest.mark.e2e

ENV = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "10000/m",
    "CHATR_RATE_PRIVATE_MESSAGES": "10000/m",
    "CHATR_RATE_AI_REQUESTS_PER_AGENT": "100000/m",
    "CHATR_RATE_SEARCHES_PER_IP": "100000/m",
    "CHATR_WEBHOOK_ALLOW_PRIVATE": "1",
    "CHATR_STREAM_STATUS": "1",
    "CHATR_MAX_STREAMS_PER_IP": "3",
}
PASSWORD = "a long moderator password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("chatr-conversations"), **ENV)
    subprocess.run(
        [sys.executable, "manage.py", "create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
        cwd=ROOT,
        env={**process.env, "MOD_PW": PASSWORD},
        check=True,
        capture_output=True,
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def moderator(server) -> HttpAdmin:
    admin = HttpAdmin(server.url)
    assert admin.login("mod", PASSWORD).status_code == 302
    return admin


def post(base: str, agent: dict, content: str, **extra: object) -> dict:
    response = requests.post(
        f"{base}/api/messages", json={"content": content, **extra}, headers=headers(agent), timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def mention_stream(base: str, agent: dict, **extra: str):
    return sse_frames(base, path="/api/mentions/stream", Authorization=f"Bearer {agent['apiKey']}", **extra)


def test_the_mentions_stream_sends_history_then_live_items_resumes_and_gets_delete_frames(server, moderator):
    alice, bob = register(server.url, "alice"), register(server.url, "bob")
    first = post(server.url, alice, f"hello @{bob['name']}")
    frames = mention_stream(server.url, bob)
    history = next(frames)
    assert history.type == "history" and [item["message"]["id"] for item in history.data] == [first["id"]]
    assert history.id == history.data[-1]["id"]
    started = time.monotonic()
    second = post(server.url, alice, f"@{bob['name'].upper()} again")
    live = frames_until(frames, lambda seen: seen[-1].type == "mention", limit=5)[-1]
    assert time.monotonic() - started < 2
    assert live.data["message"]["id"] == second["id"] and live.data["reason"] == "mention"
    assert live.id == live.data["id"] and int(live.id) > int(history.id)
    assert moderator.action("/admin/chat/message/", "hide", [second["id"]]).status_code == 302
    deleted = frames_until(frames, lambda seen: seen[-1].type == "delete", limit=5)[-1]
    assert deleted.data == {"id": live.id, "messageId": second["id"]}
    frames.close()

    # While nobody listens: a reply (reason "reply") and a mention; the resume replays exactly those.
    reply = post(server.url, bob, "bob speaks")
    third = post(server.url, alice, "answering you", replyTo=reply["id"])
    fourth = post(server.url, alice, f"and @{bob['name']}")
    resumed = mention_stream(server.url, bob, **{"Last-Event-ID": live.id})
    replayed = frames_until(resumed, lambda seen: len([f for f in seen if f.type == "mention"]) == 2, limit=5)
    items = [frame for frame in replayed if frame.type == "mention"]
    assert [(f.data["message"]["id"], f.data["reason"]) for f in items] == [
        (third["id"], "reply"),
        (fourth["id"], "mention"),
    ]
    assert all(frame.type != "history" for frame in replayed)
    resumed.close()

    rest = requests.get(f"{server.url}/api/mentions", params={"after": 0}, headers=headers(bob), timeout=10).json()
    assert [item["message"]["id"] for item in rest["mentions"]] == [first["id"], third["id"], fourth["id"]]


def test_the_mentions_stream_needs_a_key_and_counts_toward_the_per_ip_stream_limit(server):
    bob = register(server.url, "limits")
    assert requests.get(f"{server.url}/api/mentions/stream", timeout=10).status_code == 401
    bad = requests.get(f"{server.url}/api/mentions/stream", headers={"Authorization": "Bearer chatr_nope"}, timeout=10)
    assert bad.status_code == 401
    opened = [mention_stream(server.url, bob) for _ in range(2)]
    for frames in opened:
        assert next(frames).type == "history"
    room = sse_frames(server.url)
    assert next(room).type == "history"
    assert requests.get(f"{server.url}/api/stream/status", timeout=10).json()["openStreams"] == 3
    refused = requests.get(f"{server.url}/api/mentions/stream", headers=headers(bob), timeout=10)
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_streams"
    for frames in [*opened, room]:
        frames.close()


def test_the_excerpt_turns_null_on_rest_history_pages_and_search_once_the_target_is_hidden(server, moderator):
    alice, bob = register(server.url, "alice"), register(server.url, "bob")
    target = post(server.url, alice, "words worth quoting")
    reply = post(server.url, bob, f"@{alice['name']} quoted", replyTo=target["id"])
    assert reply["replyTo"] == {
        "id": target["id"],
        "agentId": alice["id"],
        "agentName": alice["name"],
        "excerpt": "words worth quoting",
    }
    assert moderator.action("/admin/chat/message/", "hide", [target["id"]]).status_code == 302

    lobby = requests.get(f"{server.url}/api/messages", timeout=10).json()["messages"]
    assert [m["replyTo"]["excerpt"] for m in lobby if m["id"] == reply["id"]] == [None]
    history = next(sse_frames(server.url))
    assert [m["replyTo"]["excerpt"] for m in history.data if m["id"] == reply["id"]] == [None]
    feed = requests.get(f"{server.url}/api/mentions", headers=headers(alice), timeout=10).json()["mentions"]
    assert [i["message"]["replyTo"]["excerpt"] for i in feed if i["message"]["id"] == reply["id"]] == [None]
    hits = requests.get(f"{server.url}/api/search", params={"q": "quoted"}, timeout=10).json()["messages"]
    assert [m["replyTo"]["excerpt"] for m in hits if m["id"] == reply["id"]] == [None]
    page = requests.get(f"{server.url}/", timeout=10).text
    assert "words worth quoting" not in page and "message removed" in page


def test_a_mention_reaches_the_agents_webhook_signed_and_once(server, tmp_path):
    alice, bob = register(server.url, "alice"), register(server.url, "bob")
    worker = WorkerProcess(server.env, tmp_path / "worker.log")
    with Receiver() as hook:
        response = requests.post(
            f"{server.url}/ai/webhook", json={"webhook_url": hook.url}, headers=headers(bob), timeout=10
        )
        secret = response.json()["secret"]
        message = post(server.url, alice, f"psst @{bob['name']}")
        worker.start()
        try:
            [received] = hook.wait_for(1)
            wait_until(lambda: nothing_left_to_send(server.env), message="deliveries left")  # no duplicate to come
            assert len(hook.requests) == 1
        finally:
            worker.stop()
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["type"] == "mention" and payload["reason"] == "mention" and payload["room"] == "lobby"
    assert payload["message"] == {
        "id": message["id"],
        "from_ai_id": alice["id"],
        "content": f"psst @{bob['name']}",
        "timestamp": payload["timestamp"],
    }


def test_rotating_the_key_ends_the_mentions_stream_it_opened_within_a_second(server):
    bob = register(server.url, "rotating")
    ended, opened = threading.Event(), threading.Event()

    def read() -> None:
        try:
            for _frame in mention_stream(server.url, bob):
                opened.set()
        except requests.RequestException:
            pass
        finally:
            ended.set()

    threading.Thread(target=read, daemon=True).start()
    assert opened.wait(10)
    started = time.monotonic()
    assert requests.post(f"{server.url}/api/keys/rotate", headers=headers(bob), timeout=10).status_code == 200
    assert ended.wait(5), "the mentions stream opened with the old key is still open"
    assert time.monotonic() - started < 1.5
