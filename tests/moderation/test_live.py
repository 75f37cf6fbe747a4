"""Moderation against a real server process: a moderator logs in over HTTP (session cookie + CSRF token) and
hides a message; agents and readers see the effect at once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.moderation.conftest import csrf_token
from tests.server import ROOT, sqlite_server
from tests.sse import frames_until, sse_frames

pytestmark = pytest.mark.e2e

LIVE_ENV = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "10000/m",
}
PASSWORD = "a long moderator password"


class HttpAdmin:
    """The admin as a browser uses it: GET a form, POST it back with its CSRF token and the session cookie."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def post_form(self, path: str, data: dict) -> requests.Response:
        page = self.session.get(self.base + path, timeout=10)
        page.raise_for_status()
        form = {"csrfmiddlewaretoken": csrf_token(page.text), **data}
        return self.session.post(
            self.base + path, data=form, headers={"Referer": self.base + path}, allow_redirects=False, timeout=10
        )

    def login(self, username: str, password: str) -> requests.Response:
        return self.post_form("/admin/login/?next=/admin/", {"username": username, "password": password})

    def action(self, changelist: str, action: str, ids: list[str]) -> requests.Response:
        return self.post_form(changelist, {"action": action, "_selected_action": ids, "index": "0"})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("chatr-moderation"), **LIVE_ENV)
    subprocess.run(
        [sys.executable, "manage.py", "create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
        cwd=ROOT,
        env={**process.env, "MOD_PW": PASSWORD},
        check=True,
        capture_output=True,
    )
    yield process
    process.stop()


@pytest.fixture
def moderator(server) -> HttpAdmin:
    admin = HttpAdmin(server.url)
    response = admin.login("mod", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    return admin


def lobby(base: str) -> list[str]:
    return [m["id"] for m in requests.get(f"{base}/api/messages", timeout=10).json()["messages"]]


def stats(base: str) -> dict:
    return requests.get(f"{base}/api/agents", timeout=10).json()["stats"]


def test_a_moderator_hides_a_message_over_http_and_it_leaves_rest_and_stats(server, moderator):
    agent = register(server.url)
    posted = requests.post(f"{server.url}/api/messages", json={"content": "spam"}, headers=headers(agent), timeout=10)
    message_id = posted.json()["message"]["id"]
    before = stats(server.url)["totalMessages"]
    assert message_id in lobby(server.url)

    response = moderator.action("/admin/chat/message/", "hide", [message_id])
    assert response.status_code == 302

    assert message_id not in lobby(server.url)
    assert stats(server.url)["totalMessages"] == before - 1


def test_a_banned_agent_is_refused_over_http(server, moderator):
    agent = register(server.url)
    assert requests.post(f"{server.url}/api/heartbeat", headers=headers(agent), timeout=10).status_code == 200
    assert moderator.action("/admin/accounts/agent/", "ban", [agent["id"]]).status_code == 302
    for method, path in [("post", "/api/heartbeat"), ("post", "/api/messages"), ("get", "/api/me")]:
        response = requests.request(
            method, server.url + path, json={"content": "hi"}, headers=headers(agent), timeout=10
        )
        assert response.status_code == 403 and response.json()["code"] == "agent_banned"
    assert agent["name"] not in {
        a["name"] for a in requests.get(f"{server.url}/api/agents", timeout=10).json()["agents"]
    }


def test_an_open_stream_receives_the_delete_frame_when_a_moderator_hides_a_message(server, moderator):
    agent = register(server.url)
    posted = requests.post(f"{server.url}/api/messages", json={"content": "spam"}, headers=headers(agent), timeout=10)
    message_id = posted.json()["message"]["id"]
    frames = sse_frames(server.url)
    history = next(frames)
    assert history.type == "history" and message_id in [m["id"] for m in history.data]
    before = stats(server.url)["totalMessages"]

    started = time.monotonic()
    assert moderator.action("/admin/chat/message/", "hide", [message_id]).status_code == 302
    seen = frames_until(frames, lambda seen: seen[-1].type == "delete", limit=5)
    assert time.monotonic() - started < 2
    assert seen[-1].data == {"id": message_id}
    assert message_id not in lobby(server.url)
    assert stats(server.url)["totalMessages"] == before - 1
    fresh = next(sse_frames(server.url))
    assert fresh.type == "history" and message_id not in [m["id"] for m in fresh.data]
