"""The edge's ready-made answers (chatr.response_cache) are exact: against a real uvicorn process, a request that
starts after a writer's answer sees the change — posts, hides, profile changes, presence, key rotation — and the
per-IP limit still counts answers served from the cache."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.moderation.test_live import PASSWORD, HttpAdmin
from tests.server import ROOT, sqlite_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import subprocess
    import sys

    process = sqlite_server(tmp_path_factory.mktemp("ready"), server="uvicorn", **E2E_ENV)
    subprocess.run(
        [sys.executable, "manage.py", "create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
        cwd=ROOT,
        env={**process.env, "MOD_PW": PASSWORD},
        check=True,
        capture_output=True,
    )
    yield process
    process.stop()


def history(base: str, query: str = "?limit=50") -> list[dict]:
    return requests.get(f"{base}/api/messages{query}", timeout=10).json()["messages"]


def post(base: str, agent: dict, content: str) -> str:
    response = requests.post(f"{base}/api/messages", json={"content": content}, headers=headers(agent), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["message"]["id"]


def test_a_post_shows_in_history_page_and_stats_as_soon_as_its_201_returned(server):
    base = server.url
    agent = register(base)
    for round_ in range(15):
        before = requests.get(f"{base}/api/agents", timeout=10).json()["stats"]["totalMessages"]
        history(base), history(base, ""), requests.get(f"{base}/", timeout=10)  # answers ready before the post
        message_id = post(base, agent, f"round {round_}")
        assert history(base)[-1]["id"] == message_id
        assert history(base, "")[-1]["id"] == message_id
        assert f'data-id="{message_id}"' in requests.get(f"{base}/", timeout=10).text
        assert requests.get(f"{base}/api/agents", timeout=10).json()["stats"]["totalMessages"] == before + 1


def test_a_hidden_message_leaves_history_and_page_as_soon_as_the_moderator_is_answered(server):
    base = server.url
    agent = register(base)
    message_id = post(base, agent, "hide me")
    assert message_id in [m["id"] for m in history(base)]
    assert f'data-id="{message_id}"' in requests.get(f"{base}/", timeout=10).text
    moderator = HttpAdmin(base)
    assert moderator.login("mod", PASSWORD).status_code == 302
    assert moderator.action("/admin/chat/message/", "hide", [message_id]).status_code == 302
    assert message_id not in [m["id"] for m in history(base)]
    assert f'data-id="{message_id}"' not in requests.get(f"{base}/", timeout=10).text
    assert moderator.action("/admin/chat/message/", "restore", [message_id]).status_code == 302
    assert message_id in [m["id"] for m in history(base)]


def test_a_new_avatar_shows_on_the_agents_messages_at_once(server):
    base = server.url
    agent = register(base)
    message_id = post(base, agent, "my face")
    assert {m["id"]: m["avatar"] for m in history(base)}[message_id] == "🤖"
    changed = requests.patch(f"{base}/api/me", json={"avatar": "🦀"}, headers=headers(agent), timeout=10)
    assert changed.status_code == 200
    assert {m["id"]: m["avatar"] for m in history(base)}[message_id] == "🦀"


def test_an_agent_that_comes_online_or_leaves_is_listed_at_once(server):
    base = server.url
    agent = register(base)

    def online() -> set[str]:
        return {a["name"] for a in requests.get(f"{base}/api/agents", timeout=10).json()["agents"]}

    online()
    assert requests.post(f"{base}/api/heartbeat", headers=headers(agent), timeout=10).status_code == 200
    assert agent["name"] in online()
    assert requests.post(f"{base}/api/disconnect", headers=headers(agent), timeout=10).status_code == 200
    assert agent["name"] not in online()


def test_an_unchanged_answer_is_304_for_its_etag_and_a_change_gives_a_new_etag(server):
    base = server.url
    first = requests.get(f"{base}/api/messages?limit=5", timeout=10)
    etag = first.headers["ETag"]
    again = requests.get(f"{base}/api/messages?limit=5", headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    post(base, register(base), "news")
    changed = requests.get(f"{base}/api/messages?limit=5", headers={"If-None-Match": etag}, timeout=10)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    page = requests.get(f"{base}/", timeout=10)
    assert requests.get(f"{base}/", headers={"If-None-Match": page.headers["ETag"]}, timeout=10).status_code == 304


def test_a_rotated_key_is_refused_at_once_although_the_process_had_it_cached(server):
    base = server.url
    agent = register(base)
    for _ in range(3):
        assert requests.get(f"{base}/api/me", headers=headers(agent), timeout=10).status_code == 200
    rotated = requests.post(f"{base}/api/keys/rotate", headers=headers(agent), timeout=10)
    assert rotated.status_code == 200
    assert requests.get(f"{base}/api/me", headers=headers(agent), timeout=10).status_code == 401
    fresh = {"Authorization": f"Bearer {rotated.json()['apiKey']}"}
    assert requests.get(f"{base}/api/me", headers=fresh, timeout=10).status_code == 200


def test_cursor_reads_are_never_served_from_the_cache(server):
    base = server.url
    agent = register(base)
    first = post(base, agent, "cursor one")
    assert history(base, f"?after={first}") == []
    second = post(base, agent, "cursor two")
    assert [m["id"] for m in history(base, f"?after={first}")] == [second]


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    process = sqlite_server(
        tmp_path_factory.mktemp("ready-limited"), server="uvicorn", CHATR_RATE_REQUESTS_PER_IP="5/m"
    )
    yield process
    process.stop()


def test_answers_from_the_cache_still_count_against_the_per_ip_limit(limited_server):
    # The server's start-up probe of /health already counted once.
    responses = [requests.get(f"{limited_server.url}/api/messages", timeout=10) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 4 + [429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses[:4]] == ["3", "2", "1", "0"]
    assert responses[4].json()["code"] == "rate_limited" and responses[4].json()["retry_after"] >= 1
    assert "ETag" in responses[3].headers


def _exchange(connection, request: bytes) -> bytes:
    """One request on an open connection; the answer's head (a 304 has no body, so the head is all of it)."""
    connection.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(65536)
        if not chunk:
            break
        head += chunk
    return head


@pytest.mark.parametrize("path", ["/", "/api/messages?limit=5"])
def test_a_304_carries_no_content_length_and_keeps_the_connection(server, path):
    """A 304 from a kept answer has no body: announcing the 200's Content-Length left uvicorn waiting for bytes
    that never came (a traceback, and the keep-alive connection closed under the client)."""
    import socket

    etag = requests.get(f"{server.url}{path}", timeout=10).headers["ETag"]
    offset = server.log_path.stat().st_size
    conditional = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: {etag}\r\n\r\n".encode()
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        first = _exchange(connection, conditional)
        second = _exchange(connection, conditional)  # the same connection still serves
    for head in (first, second):
        assert head.startswith(b"HTTP/1.1 304 ")
        assert b"\r\ncontent-length:" not in head.lower()
    assert "Traceback" not in server.log_path.read_bytes()[offset:].decode(errors="replace")
