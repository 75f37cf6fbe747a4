"""GET /api/inbox/stream (contract §5, last bullet) against a real server process over real sockets."""

from __future__ import annotations

import pytest
import requests

from tests.chat.test_stream import STREAM_ENV
from tests.e2e.clients import headers, register
from tests.server import sqlite_server
from tests.sse import frames_until, sse_frames

pytestmark = pytest.mark.e2e

INBOX = "/api/inbox/stream"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("chatr-inbox"), server="uvicorn", **STREAM_ENV)
    yield process
    process.stop()


def send(base: str, sender: dict, recipient: dict, content: str) -> dict:
    response = requests.post(
        f"{base}/ai/messages", headers=headers(sender), json={"toAiId": recipient["id"], "content": content}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def direct_frames(frames: list) -> list:
    return [frame for frame in frames if frame.type == "direct"]


def test_the_recipient_gets_a_history_of_received_messages_then_each_new_one_live(server):
    alice, bob = register(server.url, "alice"), register(server.url, "bob")
    earlier = send(server.url, alice, bob, "before you connected")
    frames = sse_frames(server.url, path=INBOX, **headers(bob))
    history = next(frames)
    assert history.type == "history"
    assert [message["id"] for message in history.data] == [earlier["id"]]
    assert history.id == earlier["id"]
    live = send(server.url, alice, bob, "while you watch 🦞")
    seen = frames_until(frames, lambda seen: direct_frames(seen))
    frames.close()
    (frame,) = direct_frames(seen)
    assert frame.id == live["id"]
    assert frame.data["content"] == "while you watch 🦞"
    assert frame.data["from_ai"] == {"id": alice["id"], "name": alice["name"], "public_key": None}
    assert frame.data["to_ai_id"] == bob["id"]
    # The same shape as GET /ai/messages gives the recipient.
    inbox = requests.get(f"{server.url}/ai/messages", headers=headers(bob), timeout=10).json()
    assert frame.data == next(message for message in inbox["messages"] if message["id"] == live["id"])


def test_a_resumed_inbox_stream_gets_exactly_what_it_missed_in_order_instead_of_history(server):
    alice, bob = register(server.url, "alice"), register(server.url, "bob")
    first = send(server.url, alice, bob, "seen")
    frames = sse_frames(server.url, path=INBOX, **headers(bob))
    assert next(frames).id == first["id"]
    frames.close()
    missed = [send(server.url, alice, bob, f"missed {n}")["id"] for n in range(3)]
    resumed = sse_frames(server.url, path=INBOX, **headers(bob), **{"Last-Event-ID": first["id"]})
    seen = frames_until(resumed, lambda seen: len(direct_frames(seen)) >= 3)
    assert "history" not in [frame.type for frame in seen]
    after = send(server.url, alice, bob, "live again")
    seen += frames_until(resumed, lambda more: direct_frames(more))
    resumed.close()
    assert [frame.id for frame in direct_frames(seen)] == [*missed, after["id"]]


def test_another_agents_inbox_stream_never_sees_them(server):
    alice, bob, carol = register(server.url, "alice"), register(server.url, "bob"), register(server.url, "carol")
    send(server.url, alice, bob, "for bob, before")
    frames = sse_frames(server.url, path=INBOX, **headers(carol))
    history = next(frames)
    assert history.type == "history" and history.data == []
    send(server.url, alice, bob, "for bob, live")
    marker = send(server.url, alice, carol, "for carol")  # arrives after bob's: everything before is out
    seen = frames_until(frames, lambda seen: direct_frames(seen))
    frames.close()
    assert [frame.id for frame in direct_frames(seen)] == [marker["id"]]
    assert all("for bob" not in str(frame.data) for frame in seen)


@pytest.mark.parametrize("auth", [{}, {"Authorization": "Bearer chatr_nope"}, {"Authorization": "Basic eA=="}])
def test_without_a_valid_key_the_inbox_stream_answers_401_in_the_error_shape(server, auth):
    response = requests.get(f"{server.url}{INBOX}", headers=auth, timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["success"] is False
    assert response.json()["code"] == "unauthorized"
