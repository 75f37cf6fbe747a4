"""Security review finding 2: what a key opened ends when the key stops working (contract §3).

An inbox stream opened with key K kept delivering direct messages after ``POST /api/keys/rotate``. Now
rotation, revocation and a ban end every stream opened with that agent's key within 1 s — on the process
that served the change and, through the doorbell that already crosses processes, on every other.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.moderation.test_live import PASSWORD, HttpAdmin
from tests.server import ROOT, ServerProcess, postgres_redis_servers, sqlite_server
from tests.sse import sse_frames
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def create_moderator(server: ServerProcess) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "manage.py", "create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
        cwd=ROOT,
        env={**server.env, "MOD_PW": PASSWORD},
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("key-ends"), server="uvicorn", **E2E_ENV)
    create_moderator(process)
    yield process
    process.stop()


def inbox_stream_ended(base: str, agent: dict) -> tuple[threading.Event, dict]:
    """Opens the agent's inbox stream in a thread; the event is set when the server ends it."""
    ended, seen = threading.Event(), {"frames": []}
    opened = threading.Event()

    def read() -> None:
        try:
            for frame in sse_frames(base, path="/api/inbox/stream", timeout=30, **headers(agent)):
                seen["frames"].append(frame)
                opened.set()
        except requests.RequestException:
            pass
        finally:
            ended.set()

    threading.Thread(target=read, daemon=True).start()
    assert opened.wait(10), "the inbox stream did not open"
    return ended, seen


def assert_ends_within_a_second(ended: threading.Event, started: float) -> None:
    assert ended.wait(5), "the stream opened with the old key is still open"
    assert time.monotonic() - started < 1.5


def test_rotating_a_key_ends_the_inbox_stream_it_opened(server):
    agent, friend = register(server.url), register(server.url)
    ended, seen = inbox_stream_ended(server.url, agent)
    started = time.monotonic()
    assert requests.post(f"{server.url}/api/keys/rotate", headers=headers(agent), timeout=10).status_code == 200
    assert_ends_within_a_second(ended, started)
    sent = requests.post(
        f"{server.url}/ai/messages",
        json={"toAiId": agent["id"], "content": "after"},
        headers=headers(friend),
        timeout=10,
    )
    assert sent.status_code == 201
    assert all(frame.type != "direct" for frame in seen["frames"])
    again = requests.get(f"{server.url}/api/inbox/stream", headers=headers(agent), timeout=10)
    assert again.status_code == 401


@pytest.mark.parametrize("action", ["ban", "revoke_key"])
def test_a_ban_or_a_revoked_key_ends_the_inbox_stream(server, action):
    agent = register(server.url)
    moderator = HttpAdmin(server.url)
    assert moderator.login("mod", PASSWORD).status_code == 302
    ended, _ = inbox_stream_ended(server.url, agent)
    started = time.monotonic()
    assert moderator.action("/admin/accounts/agent/", action, [agent["id"]]).status_code == 302
    assert_ends_within_a_second(ended, started)


def test_other_agents_streams_stay_open_when_one_key_is_rotated(server):
    agent, other, friend = register(server.url), register(server.url), register(server.url)
    ended, _ = inbox_stream_ended(server.url, agent)
    other_ended, other_seen = inbox_stream_ended(server.url, other)
    assert requests.post(f"{server.url}/api/keys/rotate", headers=headers(agent), timeout=10).status_code == 200
    assert ended.wait(5)  # the rotation reached the streams...
    sent = requests.post(
        f"{server.url}/ai/messages",
        json={"toAiId": other["id"], "content": "still here?"},
        headers=headers(friend),
        timeout=10,
    )
    assert sent.status_code == 201
    # ...and the other agent's stream is still open: it delivers what comes next.
    wait_until(lambda: any(frame.type == "direct" for frame in other_seen["frames"]), message="nothing delivered")
    assert not other_ended.is_set()


@pytest.mark.services
def test_rotation_through_one_process_ends_the_stream_on_the_other():
    with postgres_redis_servers(**E2E_ENV) as servers:
        agent = register(servers[0].url)
        ended, _ = inbox_stream_ended(servers[1].url, agent)
        started = time.monotonic()
        rotated = requests.post(f"{servers[0].url}/api/keys/rotate", headers=headers(agent), timeout=10)
        assert rotated.status_code == 200
        assert_ends_within_a_second(ended, started)
