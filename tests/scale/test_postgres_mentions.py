"""The mentions feed keeps the ordering invariant (contract §2, §12) with two server processes writing to
PostgreSQL at once: a reader following ``after`` cursors across both misses nothing and sees nothing twice,
and a reply's excerpt is null on either process as soon as a moderator hid the target on one."""

import subprocess
import sys
from collections.abc import Callable

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.moderation.test_live import HttpAdmin
from tests.scale.tools import follow_cursor_while_writing
from tests.server import ROOT, postgres_redis_servers

pytestmark = [pytest.mark.services, pytest.mark.e2e]

SENDERS = 6
MESSAGES_EACH = 25


def test_a_reader_following_the_mentions_cursor_misses_nothing_while_two_processes_write(two_postgres_servers):
    servers = two_postgres_servers
    bob, carol = register(servers[0].url, "bob"), register(servers[1].url, "carol")
    senders = [register(servers[index % 2].url, "sender") for index in range(SENDERS)]
    # One group per sender: posts to different rooms do not queue on one room lock, so only the
    # recipient's row lock keeps the feed's ids in commit order.
    groups = []
    for sender in senders:
        group = requests.post(
            f"{servers[0].url}/ai/groups", json={"name": "feed"}, headers=headers(sender), timeout=10
        ).json()["group"]["id"]
        for member in (bob, carol):
            joined = requests.post(f"{servers[1].url}/ai/groups/{group}/join", headers=headers(member), timeout=10)
            assert joined.status_code == 200, joined.text
        groups.append(group)
    acknowledged: list[str] = []

    def writer(index: int) -> Callable[[], None]:
        def write() -> None:
            session = requests.Session()
            base = servers[index % 2].url
            for n in range(MESSAGES_EACH):
                # Half the posts tell two agents (two row locks, in one order); DMs to bob take his lock too.
                extra = f" @{carol['name']}" if n % 2 else ""
                response = session.post(
                    f"{base}/ai/groups/{groups[index]}/messages",
                    json={"content": f"@{bob['name']} s{index}-{n}{extra}"},
                    headers=headers(senders[index]),
                    timeout=30,
                )
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["message"]["id"])
                if n % 5 == 0:
                    direct = session.post(
                        f"{base}/ai/messages",
                        json={"toAiId": bob["id"], "content": "dm"},
                        headers=headers(senders[index]),
                        timeout=30,
                    )
                    assert direct.status_code == 201, direct.text

        return write

    def reader_of(base: str) -> Callable[[requests.Session, str], list[dict]]:
        def read_page(session: requests.Session, cursor: str) -> list[dict]:
            page = session.get(
                f"{base}/api/mentions", headers=headers(bob), params={"after": cursor, "limit": 100}, timeout=30
            )
            return page.json()["mentions"]

        return read_page

    seen = follow_cursor_while_writing(
        read_pages=[reader_of(server.url) for server in servers], writers=[writer(index) for index in range(SENDERS)]
    )
    assert len(acknowledged) == SENDERS * MESSAGES_EACH
    assert len(seen) == len(set(seen)), "the feed showed an entry twice"
    assert sorted(seen, key=int) == seen
    assert len(seen) == SENDERS * MESSAGES_EACH, "a reader following 'after' cursors missed entries"
    everything = []
    cursor = "0"
    while page := requests.get(
        f"{servers[1].url}/api/mentions", headers=headers(bob), params={"after": cursor, "limit": 100}, timeout=30
    ).json()["mentions"]:
        everything += page
        cursor = page[-1]["id"]
    assert sorted(item["message"]["id"] for item in everything) == sorted(acknowledged)
    carol_feed = requests.get(
        f"{servers[0].url}/api/mentions", headers=headers(carol), params={"limit": 100}, timeout=30
    )
    assert len(carol_feed.json()["mentions"]) == SENDERS * (MESSAGES_EACH // 2)


@pytest.fixture
def two_servers_with_redis():
    """Two processes as scale-out runs them: one PostgreSQL database and one Redis (the caches' versions)."""
    with postgres_redis_servers(CHATR_RATELIMITS="off") as servers:
        yield servers


def test_the_excerpt_is_null_on_the_other_process_once_a_moderator_hid_the_target(two_servers_with_redis):
    servers = two_servers_with_redis
    password = "a long moderator password"
    subprocess.run(
        [sys.executable, "manage.py", "create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
        cwd=ROOT,
        env={**servers[0].env, "MOD_PW": password},
        check=True,
        capture_output=True,
    )
    alice, bob = register(servers[0].url, "alice"), register(servers[1].url, "bob")
    target = requests.post(
        f"{servers[0].url}/api/messages", json={"content": "quote me"}, headers=headers(alice), timeout=10
    ).json()["message"]
    reply = requests.post(
        f"{servers[1].url}/api/messages",
        json={"content": "quoted", "replyTo": target["id"]},
        headers=headers(bob),
        timeout=10,
    ).json()["message"]

    def excerpts(base: str) -> list[object]:
        lobby = requests.get(f"{base}/api/messages", timeout=10).json()["messages"]
        return [m["replyTo"]["excerpt"] for m in lobby if m["id"] == reply["id"]]

    assert excerpts(servers[0].url) == excerpts(servers[1].url) == ["quote me"]
    admin = HttpAdmin(servers[0].url)
    assert admin.login("mod", password).status_code == 302
    assert admin.action("/admin/chat/message/", "hide", [target["id"]]).status_code == 302
    assert excerpts(servers[1].url) == excerpts(servers[0].url) == [None]
    found = requests.get(f"{servers[1].url}/api/search", params={"q": "quoted"}, timeout=10).json()["messages"]
    assert [m["replyTo"]["excerpt"] for m in found] == [None]
    assert requests.get(f"{servers[1].url}/api/search", params={"q": "quote me"}, timeout=10).json()["messages"] == []
