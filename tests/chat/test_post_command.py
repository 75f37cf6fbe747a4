"""The lobby's POST command (``chat.commands.LOBBY_POST``, ``chatr.commands``) answers as the DRF view does.

Two real servers on SQLite, one with the request table's commands and one without (``CHATR_COMMANDS=off``: every
POST through Django's handler and DRF), get the same requests in the same order; each pair of answers must have the
same status, the same headers in the same order (but ``Date``, ``Server`` and the limit's reset time) and the same
body (but agents' uuids and timestamps, which are each server's own). The command's metric proves it answered the
requests it should (and handed the others to Django) — otherwise this would compare the view with itself.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests

from tests.chat.helpers import new_private_key, public_pem, sign
from tests.server import ROOT, ServerProcess, sqlite_server

pytestmark = pytest.mark.e2e

ENV = {
    "ALLOWED_HOSTS": "127.0.0.1",  # no "localhost": the command's headers are computed whatever the list holds
    "CHATR_METRICS": "1",
    "CHATR_RATE_REGISTRATIONS_PER_IP": "100000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "3/m",
}
RULES = {
    "rules": [
        {"name": "review", "reason": "A human looks first.", "kind": "terms", "terms": ["review me"], "action": "hold"},
    ]
}
KEY = new_private_key()
SIGNED = "a signed post"
SIGNATURE = sign(KEY, SIGNED)  # one signature for both servers: ECDSA signs differently each time
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_IGNORED = {"date", "server", "x-ratelimit-reset"}


@dataclass
class Side:
    """One server and the agents registered on it, by the case's name for them."""

    server: ServerProcess
    keys: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def register(self, name: str, **extra: object) -> str:
        answer = requests.post(f"{self.url}/api/register", json={"name": name, "avatar": "🤖", **extra}, timeout=10)
        assert answer.status_code == 201, answer.text
        self.keys[name] = answer.json()["agent"]["apiKey"]
        self.names[name] = name
        return self.keys[name]

    def post(self, body: bytes | str | dict, *, key: str | None = None, **headers: str) -> requests.Response:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        sent = {"Content-Type": "application/json", **headers}
        if key is not None:
            sent["Authorization"] = f"Bearer {self.keys[key]}"
        return requests.post(f"{self.url}/api/messages", data=raw, headers=sent, timeout=10)

    def posts_counted(self) -> dict[str, float]:
        """``chatr_http_requests_total`` of POST ``api/messages`` by status: the edge labels both paths alike."""
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        found = re.findall(
            r'chatr_http_requests_total\{method="POST",route="api/messages",status="(\d+)"\} (\S+)', text
        )
        return {status: float(value) for status, value in found}

    def commands(self) -> dict[str, float]:
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        found = re.findall(r'chatr_commands_total\{outcome="(\w+)",route="api/messages"\} (\S+)', text)
        return {outcome: float(value) for outcome, value in found}


def manage(server: ServerProcess, *arguments: str) -> None:
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=server.env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    folder = tmp_path_factory.mktemp("post-command")
    rules = folder / "rules.json"
    rules.write_text(json.dumps(RULES))
    (folder / "with").mkdir()
    (folder / "without").mkdir()
    servers = [
        sqlite_server(folder / "with", **ENV),
        sqlite_server(folder / "without", CHATR_COMMANDS="off", **ENV),
    ]
    try:
        pair = [Side(server) for server in servers]
        for side in pair:
            manage(side.server, "moderation_rules", "import", str(rules))
            side.register("outlaw")
            manage(
                side.server,
                "shell",
                "-c",
                "from accounts.models import Agent; Agent.objects.filter(name='outlaw').update(is_banned=True)",
            )
        yield pair
    finally:
        for server in servers:
            server.stop()


def shape(value: object) -> object:
    """A body with each server's own values (uuids, times) replaced by placeholders."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, str):
        return _TIME.sub("<time>", _UUID.sub("<uuid>", value))
    return value


def answer_of(response: requests.Response) -> tuple:
    headers = [(name, value) for name, value in response.headers.items() if name.lower() not in _IGNORED]
    try:
        body: object = shape(response.json())
    except ValueError:
        body = response.text
    return response.status_code, headers, body


Case = Callable[[Side], list[requests.Response]]


def plain(side: Side) -> list[requests.Response]:
    side.register("plain")
    return [side.post({"content": "hello from a plain post"}, key="plain")]


def signed(side: Side) -> list[requests.Response]:
    side.register("signer", publicKey=public_pem(KEY))
    return [
        side.post({"content": SIGNED, "signature": SIGNATURE}, key="signer"),
        side.post({"content": "not what was signed", "signature": SIGNATURE}, key="signer"),  # invalid_signature
    ]


def conversation(side: Side) -> list[requests.Response]:
    side.register("asker")
    side.register("answerer")
    first = side.post({"content": "anyone there?"}, key="asker")
    reply_to = first.json()["message"]["id"]
    return [
        first,
        side.post({"content": "@asker yes, here", "replyTo": int(reply_to)}, key="answerer"),
        side.post({"content": "@asker and as a string", "replyTo": reply_to}, key="answerer"),
        side.post({"content": "to nothing", "replyTo": 10**12}, key="asker"),  # invalid_reply
    ]


def invalid(side: Side) -> list[requests.Response]:
    side.register("sloppy")
    bodies: list[bytes | str | dict] = [
        {"content": ""},
        {"content": "   \u200b "},
        {"content": "x" * 251},
        {"content": 5},
        {"content": None},
        {},
        {"content": "extra fields", "extra": 1},
        {"content": "a float id", "replyTo": 1.0},
        {"content": "a true id", "replyTo": True},
        {"content": "a zero id", "replyTo": 0},
        {"content": "a word id", "replyTo": "abc"},
        {"content": "bad\u0000nul"},
        {"content": "\x1b[31m colours"},
        {"content": "bad signature", "signature": "zz"},
        '{"content": "hi"',
        '{"content": "a", "content": "b"}',
        "null",
        "[1, 2]",
        '"just text"',
        "[" * 40 + "]" * 40,
        b'{"content": "\xff\xfe"}',
        '{"content": NaN}',
    ]
    return [side.post(body, key="sloppy") for body in bodies]


def keys(side: Side) -> list[requests.Response]:
    side.register("keyed")
    body = {"content": "who am I?"}
    return [
        side.post(body),  # no key
        side.post(body, Authorization="Bearer chatr_not_a_key"),
        side.post(body, Authorization="Token abc"),  # malformed
        side.post(body, Authorization="Bearer"),
        side.post('{"content": "no key and bad JSON"'),  # 401 first, as the view authenticates first
        side.post(body, **{"X-API-Key": side.keys["keyed"]}),  # the legacy header
        side.post(body, **{"X-API-Key": "chatr_not_a_key"}),
    ]


def forbidden(side: Side) -> list[requests.Response]:
    side.register("linker")
    return [
        side.post({"content": "banned"}, key="outlaw"),
        side.post('{"content": "banned and bad JSON"', key="outlaw"),  # 403 before the body's error
        side.post({"content": "see https://example.com"}, key="linker"),  # url_not_allowed (unverified)
    ]


def idempotency(side: Side) -> list[requests.Response]:
    side.register("retrier")
    first = {"content": "once only"}
    return [
        side.post(first, key="retrier", **{"Idempotency-Key": "k-1"}),
        side.post(first, key="retrier", **{"Idempotency-Key": "k-1"}),  # replayed
        side.post({"content": "   once only  "}, key="retrier", **{"Idempotency-Key": "k-1"}),  # another body: 409
        side.post(first, key="retrier", **{"Idempotency-Key": "x" * 65}),  # invalid key: 400
        side.post(first, key="retrier", **{"Idempotency-Key": "bad key"}),
        side.post('{"content": "bad JSON, keyed"', key="retrier", **{"Idempotency-Key": "k-2"}),
    ]


def held(side: Side) -> list[requests.Response]:
    side.register("reviewed")
    body = {"content": "please review me"}
    return [
        side.post(body, key="reviewed"),
        side.post(body, key="reviewed", **{"Idempotency-Key": "held-1"}),
        side.post(body, key="reviewed", **{"Idempotency-Key": "held-1"}),  # the 202 replayed
    ]


def limited(side: Side) -> list[requests.Response]:
    side.register("chatty")
    return [side.post({"content": f"post {n}"}, key="chatty") for n in range(5)]  # 3 a minute: 429 from the 4th


def too_large(side: Side) -> list[requests.Response]:
    side.register("verbose")
    return [side.post({"content": "x" * 17_000}, key="verbose")]


def falls_through(side: Side) -> list[requests.Response]:
    """What the command leaves to Django: the same answers, because Django gives them."""
    side.register("unusual")
    body = json.dumps({"content": "through Django"})
    auth = f"Bearer {side.keys['unusual']}"
    url = f"{side.url}/api/messages"
    return [
        requests.post(url, data=body, headers={"Content-Type": "text/plain", "Authorization": auth}, timeout=10),
        requests.post(url, data=body, headers={"Authorization": auth}, timeout=10),  # no content type
        side.post(body, key="unusual", Accept="application/json; indent=4"),
        side.post(body, key="unusual", Accept="text/html"),
        side.post(b"", key="unusual"),
        side.post(body, key="unusual", **{"Content-Type": "Application/JSON"}),
        requests.options(url, timeout=10),
        *raw_posts(side, body, [("Authorization", auth), ("Authorization", "Bearer chatr_other")]),  # twice
        *raw_posts(side, body, [("X_API_Key", side.keys["unusual"])]),  # Django reads it as X-API-Key
    ]


def raw_posts(side: Side, body: str, headers: list[tuple[str, str]]) -> list[requests.Response]:
    """A POST with headers ``requests`` would not send as given (a name twice, an underscore)."""
    connection = http.client.HTTPConnection("127.0.0.1", side.server.port, timeout=10)
    try:
        connection.putrequest("POST", "/api/messages")
        for name, value in [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers]:
            connection.putheader(name, value)
        connection.endheaders(body.encode())
        raw = connection.getresponse()
        response = requests.Response()
        response.status_code = raw.status
        response.headers = requests.structures.CaseInsensitiveDict(raw.getheaders())
        response._content = raw.read()
        return [response]
    finally:
        connection.close()


CASES: dict[str, tuple[Case, int, int]] = {
    # name: (case, requests the command answers, requests it hands to Django)
    "plain": (plain, 1, 0),
    "signed": (signed, 2, 0),
    "conversation": (conversation, 4, 0),
    "invalid": (invalid, 22, 0),
    "keys": (keys, 7, 0),
    "forbidden": (forbidden, 3, 0),
    "idempotency": (idempotency, 6, 0),
    "held": (held, 3, 0),
    "limited": (limited, 5, 0),
    "too_large": (too_large, 0, 0),  # the body limit answers before any chain
    "falls_through": (falls_through, 0, 8),  # and an OPTIONS, which is no POST
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_command_answers_as_the_view(sides, name):
    case, answered, fell_through = CASES[name]
    with_command, without = sides
    before = with_command.commands(), without.commands()
    counted = [side.posts_counted() for side in sides]
    answers = [[answer_of(response) for response in case(side)] for side in sides]
    assert answers[0] == answers[1]
    deltas = [
        {
            status: value - was.get(status, 0)
            for status, value in side.posts_counted().items()
            if value != was.get(status)
        }
        for side, was in zip(sides, counted, strict=True)
    ]
    assert deltas[0] == deltas[1]
    assert sum(deltas[0].values()) == answered + fell_through  # every POST that reached the pipeline, once
    after = with_command.commands(), without.commands()
    assert after[0].get("answered", 0) - before[0].get("answered", 0) == answered
    assert after[0].get("fell_through", 0) - before[0].get("fell_through", 0) == fell_through
    assert set(after[1].values()) == {0}  # the other server took every POST through Django
    statuses = [status for status, _, _ in answers[0]]
    assert statuses == EXPECTED[name], statuses


EXPECTED = {
    "plain": [201],
    "signed": [201, 400],
    "conversation": [201, 201, 201, 400],
    "invalid": [400] * 6 + [201] + [400] * 15,
    "keys": [401, 401, 401, 401, 401, 201, 401],
    "forbidden": [403, 403, 403],
    "idempotency": [201, 201, 409, 400, 400, 400],
    "held": [202, 202, 202],
    "limited": [201, 201, 201, 429, 429],
    "too_large": [413],
    "falls_through": [415, 415, 201, 406, 400, 201, 200, 401, 401],
}
