"""The lobby's POST command answered by a drain (``chatr.commands.Drain``): posts that arrive together are taken
by one request thread, checked one by one in their own request's context, stored by one writer call and answered
together.

Bursts are made by sending every request on its own connection before reading any answer. Each answer must be
its own request's (its text, its status, its own limit headers), a post that breaks a rule must fail alone while
the others are stored, and a server stopped (gracefully, or killed) while posts are queued must have stored every
post it acknowledged.
The same burst on a server without the drain (``CHATR_COMMAND_DRAIN=off``: a request thread per post) must get
the same statuses.
"""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
from pathlib import Path

import pytest
import requests

from chatr.commands import Command, drains
from tests.server import sqlite_server

pytestmark = pytest.mark.e2e

ENV = {
    "CHATR_METRICS": "1",
    "CHATR_RATE_REGISTRATIONS_PER_IP": "100000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "3/m",
}


def register(url: str, name: str) -> str:
    answer = requests.post(f"{url}/api/register", json={"name": name, "avatar": "🤖"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["agent"]["apiKey"]


def send_all(
    port: int, posts: list[tuple[str | None, bytes, dict[str, str]]], path: str = "/api/messages"
) -> list[http.client.HTTPConnection]:
    """Every post sent, each on its own connection, before any answer is read: they reach the server together."""
    sent = []
    for key, body, extra in posts:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        headers = {"Content-Type": "application/json", **extra}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        connection.request("POST", path, body=body, headers=headers)
        sent.append(connection)
    return sent


def read_all(sent: list[http.client.HTTPConnection]) -> list[tuple[int, dict[str, str], dict]]:
    answers = []
    for connection in sent:
        try:
            response = connection.getresponse()
            headers = {name.lower(): value for name, value in response.getheaders()}
            answers.append((response.status, headers, json.loads(response.read())))
        finally:
            connection.close()
    return answers


def burst_metric(url: str, which: str, route: str = "api/messages") -> float:
    """Of a command's drain (``chatr_command_burst``): the bursts it answered (``count``) or requests (``sum``)."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    found = re.search(rf'chatr_command_burst_{which}\{{route="{re.escape(route)}"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def burst_count(url: str, route: str = "api/messages") -> float:
    """How many bursts a command's drain answered."""
    return burst_metric(url, "count", route)


def stored(database: Path) -> dict[int, str]:
    """The lobby's messages in the server's SQLite file: id → text."""
    with sqlite3.connect(database) as db:
        return dict(db.execute("SELECT id, content FROM chat_message WHERE room_id = 'lobby' ORDER BY id"))


@pytest.mark.parametrize("drain", ["on", "off"])
def test_a_burst_gets_each_post_its_own_answer_and_a_broken_rule_fails_alone(tmp_path, drain):
    server = sqlite_server(tmp_path, CHATR_COMMAND_DRAIN=drain, **ENV)
    try:
        keys = [register(server.url, f"poster{n}") for n in range(8)]
        chatty = register(server.url, "chatty")
        posts: list[tuple[str | None, bytes, dict[str, str]]] = []
        expected: list[int] = []
        for n, key in enumerate(keys):
            posts.append((key, json.dumps({"content": f"burst post {n}"}).encode(), {}))
            expected.append(201)
            posts.append((key, json.dumps({"content": f"see https://example.com/{n}"}).encode(), {}))
            expected.append(403)  # url_not_allowed: links need the badge
            posts.append((key, json.dumps({"content": f"reply {n}", "replyTo": 10**12}).encode(), {}))
            expected.append(400)  # invalid_reply
        posts.append((None, b'{"content": "nobody"}', {}))
        expected.append(401)
        posts.append((keys[0], b'{"content": ', {}))
        expected.append(400)
        posts.append((keys[1], b'{"content": "keyed once"}', {"Idempotency-Key": "burst-1"}))
        expected.append(201)
        for n in range(5):  # 3 a minute: the limit's usage of each request goes to that request's answer
            posts.append((chatty, json.dumps({"content": f"chatty {n}"}).encode(), {}))
            expected.append(201 if n < 3 else 429)

        answers = read_all(send_all(server.port, posts))

        # Requests on different connections have no order between them: the limit's count may go either way.
        assert [status for status, _, _ in answers[:-5]] == expected[:-5]
        assert sorted(status for status, _, _ in answers[-5:]) == expected[-5:]
        for (_, body, _), (status, _, answer) in zip(posts, answers, strict=True):
            if status == 201:
                assert answer["message"]["content"] == json.loads(body)["content"]  # its own post, not another's
        chatty = sorted(answers[-5:], key=lambda answer: answer[0])
        assert sorted(headers["x-ratelimit-remaining"] for _, headers, _ in chatty[:3]) == ["0", "1", "2"]
        assert all(answer["code"] == "rate_limited" for _, _, answer in chatty[3:])
        assert {answer["code"] for status, _, answer in answers if status == 403} == {"url_not_allowed"}
        assert {answer["code"] for status, _, answer in answers if status == 401} == {"unauthorized"}

        bursts = burst_count(server.url)
        if drain == "on":
            assert 0 < bursts < len(posts)  # some were answered together
        else:
            assert bursts == 0
        in_lobby = stored(tmp_path / "chatr.sqlite3")
        created = {int(answer["message"]["id"]): answer["message"]["content"] for s, _, answer in answers if s == 201}
        assert {pk: text for pk, text in in_lobby.items() if pk in created} == created
        assert sorted(created.values()) == sorted(in_lobby.values())  # nothing refused was stored
    finally:
        server.stop()


@pytest.mark.parametrize("drain", ["on", "off"])
def test_a_burst_of_group_posts_is_drained_with_a_non_member_failing_alone(tmp_path, drain):
    server = sqlite_server(tmp_path, CHATR_COMMAND_DRAIN=drain, **ENV)
    try:
        keys = [register(server.url, f"member{n}") for n in range(6)]
        outsider = register(server.url, "outsider")
        auth = [{"Authorization": f"Bearer {key}"} for key in keys]
        made = requests.post(f"{server.url}/ai/groups", json={"name": "burst"}, headers=auth[0], timeout=10)
        assert made.status_code == 201, made.text
        group = made.json()["group"]["id"]
        for headers in auth[1:]:
            joined = requests.post(f"{server.url}/ai/groups/{group}/join", headers=headers, timeout=10)
            assert joined.status_code == 200, joined.text
        posts: list[tuple[str | None, bytes, dict[str, str]]] = []
        expected: list[int] = []
        for n, key in enumerate(keys):
            posts.append((key, json.dumps({"content": f"group burst {n}"}).encode(), {}))
            expected.append(201)
            posts.append((outsider, json.dumps({"content": f"not mine {n}"}).encode(), {}))
            expected.append(403)  # not a member
            posts.append((key, json.dumps({"content": ""}).encode(), {}))
            expected.append(400)

        answers = read_all(send_all(server.port, posts, f"/ai/groups/{group}/messages"))

        assert [status for status, _, _ in answers] == expected
        for (_, body, _), (status, _, answer) in zip(posts, answers, strict=True):
            if status == 201:
                assert answer["message"]["content"] == json.loads(body)["content"]
        route = "ai/groups/<str:group_id>/messages"
        bursts = burst_count(server.url, route)
        assert (0 < bursts < len(posts)) if drain == "on" else bursts == 0
        with sqlite3.connect(tmp_path / "chatr.sqlite3") as db:
            in_group = dict(db.execute("SELECT id, content FROM chat_message WHERE room_id = ?", (group,)))
        created = {int(answer["message"]["id"]): answer["message"]["content"] for s, _, answer in answers if s == 201}
        assert in_group == created  # each member's post once, nothing of the outsider's or the empty ones
    finally:
        server.stop()


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_a_server_stopped_with_posts_queued_has_stored_every_post_it_acknowledged(tmp_path, stop):
    server = sqlite_server(tmp_path, **{**ENV, "CHATR_RATE_LOBBY_UNVERIFIED": "100000/m"})
    sent: list[http.client.HTTPConnection] = []
    try:
        keys = [register(server.url, f"stopper{n}") for n in range(10)]
        posts = [(keys[n % 10], json.dumps({"content": f"before the stop {n}"}).encode(), {}) for n in range(120)]
        sent = send_all(server.port, posts)
        first = sent[0].getresponse()  # the server is answering the burst
        assert first.status == 201
        message = json.loads(first.read())["message"]  # whole: head and body may leave in two writes
        acknowledged = {int(message["id"]): message["content"]}
        assert server.process is not None
        getattr(server.process, stop)()  # while the others are queued, being written or not yet read
        for connection in sent[1:]:
            try:
                response = connection.getresponse()
                assert response.status == 201
                message = json.loads(response.read())["message"]
                acknowledged[int(message["id"])] = message["content"]
            except (OSError, http.client.HTTPException):
                pass  # not answered: it may or may not be stored, it was never acknowledged
        server.process.wait(timeout=20)
        server.process = None
    finally:
        for connection in sent:
            connection.close()
        server.stop()
    in_lobby = stored(tmp_path / "chatr.sqlite3")
    assert {pk: in_lobby.get(pk) for pk in acknowledged} == acknowledged


class RunOnly(Command):
    def run(self, incoming):  # type: ignore[no-untyped-def]
        return 201, {}, None


def test_a_command_that_only_runs_keeps_a_request_thread_each(settings):
    from chat.commands import LOBBY_POST

    assert not drains(RunOnly())
    assert drains(LOBBY_POST)
    settings.CHATR_COMMAND_DRAIN = False
    assert not drains(LOBBY_POST)
