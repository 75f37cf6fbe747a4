"""The message-creating POSTs' commands (``chat.commands``: ``LOBBY_POST``, ``DIRECT_MESSAGE``, ``GROUP_POST``;
``chatr.commands``) answer as the DRF views do.

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
    "CHATR_RATE_AI_REQUESTS_PER_AGENT": "8/m",
    "CHATR_RATE_PRIVATE_MESSAGES": "4/m",
}
RULES = {
    "rules": [
        {"name": "review", "reason": "A human looks first.", "kind": "terms", "terms": ["review me"], "action": "hold"},
        {
            "name": "inspect",
            "reason": "A human looks at this DM first.",
            "kind": "terms",
            "terms": ["inspect me"],
            "action": "hold",
            "scope": ["direct"],
        },
    ]
}
LOBBY = "api/messages"  # the routes' labels in the metrics: their URL patterns
DIRECT = "ai/messages"
GROUP = "ai/groups/<str:group_id>/messages"
NOBODY = "00000000-0000-4000-8000-000000000000"  # an agent or a group that does not exist
KEY = new_private_key()
SIGNED = "a signed post"
SIGNATURE = sign(KEY, SIGNED)  # one signature for both servers: ECDSA signs differently each time
DM_KEY, GROUP_KEY = new_private_key(), new_private_key()  # a public key is one agent's
DM_SIGNATURE, GROUP_SIGNATURE = sign(DM_KEY, SIGNED), sign(GROUP_KEY, SIGNED)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_IGNORED = {"date", "server", "x-ratelimit-reset"}


@dataclass
class Side:
    """One server and the agents (and groups) registered on it, by the case's name for them."""

    server: ServerProcess
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def register(self, name: str, **extra: object) -> str:
        answer = requests.post(f"{self.url}/api/register", json={"name": name, "avatar": "🤖", **extra}, timeout=10)
        assert answer.status_code == 201, answer.text
        self.keys[name] = answer.json()["agent"]["apiKey"]
        self.ids[name] = answer.json()["agent"]["id"]
        return self.keys[name]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def post(
        self, body: bytes | str | dict, *, key: str | None = None, path: str = "/api/messages", **headers: str
    ) -> requests.Response:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        sent = {"Content-Type": "application/json", **headers}
        if key is not None:
            sent.update(self.auth(key))
        return requests.post(f"{self.url}{path}", data=raw, headers=sent, timeout=10)

    def dm(self, body: bytes | str | dict, *, key: str | None = None, **headers: str) -> requests.Response:
        return self.post(body, key=key, path="/ai/messages", **headers)

    def group(self, name: str, owner: str, *members: str) -> str:
        """A new group of ``owner``, which ``members`` join (a request each, counted against their /ai limit)."""
        answer = requests.post(f"{self.url}/ai/groups", json={"name": name}, headers=self.auth(owner), timeout=10)
        assert answer.status_code == 201, answer.text
        group = self.groups[name] = answer.json()["group"]["id"]
        for member in members:
            self.join(member, group)
        return group

    def join(self, member: str, group: str) -> None:
        answer = requests.post(f"{self.url}/ai/groups/{group}/join", headers=self.auth(member), timeout=10)
        assert answer.status_code == 200, answer.text

    def to_group(
        self, name: str, body: bytes | str | dict, *, key: str | None = None, **headers: str
    ) -> requests.Response:
        return self.post(body, key=key, path=f"/ai/groups/{self.groups.get(name, name)}/messages", **headers)

    def posts_counted(self, route: str) -> dict[str, float]:
        """``chatr_http_requests_total`` of POST ``route`` by status: the edge labels both chains alike."""
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        pattern = rf'chatr_http_requests_total\{{method="POST",route="{re.escape(route)}",status="(\d+)"\}} (\S+)'
        return {status: float(value) for status, value in re.findall(pattern, text)}

    def commands(self, route: str) -> dict[str, float]:
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        found = re.findall(rf'chatr_commands_total\{{outcome="(\w+)",route="{re.escape(route)}"\}} (\S+)', text)
        return {outcome: float(value) for outcome, value in found}


def rotating(side: Side, prefix: str, count: int, *, group: str | None = None, per: int = 5) -> list[str]:
    """``count`` posters' names, a new agent every ``per`` posts (each a member of ``group``): the /ai limit (8 a
    minute per agent) is another case's."""
    names = []
    for number in range(count):
        name = f"{prefix}{number // per}"
        if name not in side.keys:
            side.register(name)
            if group is not None:
                side.join(name, group)
        names.append(name)
    return names


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


def raw_posts(
    side: Side, body: str, headers: list[tuple[str, str]], path: str = "/api/messages"
) -> list[requests.Response]:
    """A POST with headers ``requests`` would not send as given (a name twice, an underscore)."""
    connection = http.client.HTTPConnection("127.0.0.1", side.server.port, timeout=10)
    try:
        connection.putrequest("POST", path)
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


# --- /ai/messages: a direct message ---------------------------------------------------------------------------


def dm_plain(side: Side) -> list[requests.Response]:
    side.register("dm-sender")
    side.register("dm-recipient")
    return [side.dm({"toAiId": side.ids["dm-recipient"], "content": "hello, privately"}, key="dm-sender")]


def dm_signed(side: Side) -> list[requests.Response]:
    side.register("dm-signer", publicKey=public_pem(DM_KEY))
    side.register("dm-reader")
    to = side.ids["dm-reader"]
    return [
        side.dm({"toAiId": to, "content": SIGNED, "signature": DM_SIGNATURE}, key="dm-signer"),
        side.dm({"toAiId": to, "content": "not what was signed", "signature": DM_SIGNATURE}, key="dm-signer"),
        side.dm({"toAiId": to, "content": "no key to check it", "signature": DM_SIGNATURE}, key="dm-reader"),
    ]


def dm_recipients(side: Side) -> list[requests.Response]:
    side.register("dm-lonely")
    return [
        side.dm({"toAiId": NOBODY, "content": "anyone?"}, key="dm-lonely"),  # 404
        side.dm({"toAiId": side.ids["dm-lonely"], "content": "me, myself"}, key="dm-lonely"),  # to oneself
        side.dm({"toAiId": side.ids["outlaw"], "content": "to a banned agent"}, key="dm-lonely"),
        side.dm({"toAiId": NOBODY.upper(), "content": "upper-case uuid"}, key="dm-lonely"),
    ]


def dm_invalid(side: Side) -> list[requests.Response]:
    side.register("dm-target")
    to = side.ids["dm-target"]
    bodies: list[bytes | str | dict] = [
        {"toAiId": to, "content": ""},
        {"toAiId": to, "content": "   \u200b "},
        {"toAiId": to, "content": "x" * 2001},
        {"toAiId": to, "content": 5},
        {"toAiId": to, "content": None},
        {"toAiId": to},
        {"content": "to nobody"},
        {"toAiId": "not-a-uuid", "content": "hi"},
        {"toAiId": 5, "content": "hi"},
        {"toAiId": None, "content": "hi"},
        {"toAiId": to, "content": "extra fields", "extra": 1},
        {"toAiId": to, "content": "a reply", "replyTo": 1},
        {"toAiId": to, "content": "bad\u0000nul"},
        {"toAiId": to, "content": "bad signature", "signature": "zz"},
        {"toAiId": to, "content": "a number signature", "signature": 5},
        '{"toAiId": "' + to + '", "content": "hi"',
        "null",
        "[1, 2]",
        "[" * 40 + "]" * 40,
        b'{"content": "\xff\xfe"}',
        '{"content": NaN}',
        {},
    ]
    names = rotating(side, "dm-sloppy", len(bodies))
    return [side.dm(body, key=name) for body, name in zip(bodies, names, strict=True)]


def dm_keys(side: Side) -> list[requests.Response]:
    side.register("dm-keyed")
    body = {"toAiId": side.ids["dm-keyed"], "content": "who am I?"}  # to oneself: a 400 once authenticated
    side.register("dm-friend")
    to_friend = {"toAiId": side.ids["dm-friend"], "content": "by the legacy header"}
    return [
        side.dm(body),  # no key
        side.dm(body, Authorization="Bearer chatr_not_a_key"),
        side.dm(body, Authorization="Token abc"),
        side.dm(body, Authorization="Bearer"),
        side.dm('{"toAiId": "no key and bad JSON"'),
        side.dm(to_friend, **{"X-API-Key": side.keys["dm-keyed"]}),
        side.dm(to_friend, **{"X-API-Key": "chatr_not_a_key"}),
        side.dm(to_friend, key="outlaw"),
        side.dm('{"content": "banned and bad JSON"', key="outlaw"),
    ]


def dm_idempotency(side: Side) -> list[requests.Response]:
    side.register("dm-retrier")
    side.register("dm-patient")
    first = {"toAiId": side.ids["dm-patient"], "content": "once only"}
    return [
        side.dm(first, key="dm-retrier", **{"Idempotency-Key": "k-1"}),
        side.dm(first, key="dm-retrier", **{"Idempotency-Key": "k-1"}),  # replayed
        side.dm({**first, "content": " once only"}, key="dm-retrier", **{"Idempotency-Key": "k-1"}),  # 409
        side.dm(first, key="dm-retrier", **{"Idempotency-Key": "x" * 65}),
        side.dm(first, key="dm-retrier", **{"Idempotency-Key": "bad key"}),
        side.dm('{"content": "bad JSON, keyed"', key="dm-retrier", **{"Idempotency-Key": "k-2"}),
        side.dm({"toAiId": NOBODY, "content": "to nobody, keyed"}, key="dm-retrier", **{"Idempotency-Key": "k-3"}),
    ]


def dm_held(side: Side) -> list[requests.Response]:
    side.register("dm-reviewed")
    side.register("dm-moderated")
    body = {"toAiId": side.ids["dm-moderated"], "content": "please inspect me"}
    return [
        side.dm(body, key="dm-reviewed"),
        side.dm(body, key="dm-reviewed", **{"Idempotency-Key": "held-1"}),
        side.dm(body, key="dm-reviewed", **{"Idempotency-Key": "held-1"}),  # the 202 replayed
    ]


def dm_limited(side: Side) -> list[requests.Response]:
    side.register("dm-chatty")
    side.register("dm-listener")
    to = side.ids["dm-listener"]
    return [side.dm({"toAiId": to, "content": f"dm {n}"}, key="dm-chatty") for n in range(6)]  # 4 a minute


def dm_requests_limited(side: Side) -> list[requests.Response]:
    """The /ai limit (8 requests a minute per agent) counts before the body is read, as DRF's throttle does."""
    side.register("dm-hasty")
    return [side.dm('{"bad": JSON', key="dm-hasty") for _ in range(10)]


def dm_too_large(side: Side) -> list[requests.Response]:
    side.register("dm-verbose")
    return [side.dm({"toAiId": side.ids["dm-verbose"], "content": "x" * 17_000}, key="dm-verbose")]


def dm_falls_through(side: Side) -> list[requests.Response]:
    side.register("dm-unusual")
    side.register("dm-usual")
    body = json.dumps({"toAiId": side.ids["dm-usual"], "content": "through Django"})
    return falling(side, "/ai/messages", body, "dm-unusual", "dm-unusual2")


def falling(side: Side, path: str, body: str, name: str, other: str) -> list[requests.Response]:
    """What a command leaves to Django: the same answers, because Django gives them (two agents: 8 requests each)."""
    side.register(other)
    auth, auth2 = f"Bearer {side.keys[name]}", f"Bearer {side.keys[other]}"
    url = f"{side.url}{path}"
    return [
        requests.post(url, data=body, headers={"Content-Type": "text/plain", "Authorization": auth}, timeout=10),
        requests.post(url, data=body, headers={"Authorization": auth}, timeout=10),  # no content type
        side.post(body, key=name, path=path, Accept="application/json; indent=4"),
        side.post(body, key=name, path=path, Accept="text/html"),
        side.post(b"", key=name, path=path),
        side.post(body, key=name, path=path, **{"Content-Type": "Application/JSON"}),
        requests.options(url, timeout=10),
        *raw_posts(side, body, [("Authorization", auth2), ("Authorization", "Bearer chatr_other")], path),
        *raw_posts(side, body, [("X_API_Key", side.keys[other])], path),
    ]


# --- /ai/groups/<group_id>/messages: a group post ------------------------------------------------------------------


def group_plain(side: Side) -> list[requests.Response]:
    side.register("g-owner")
    side.register("g-member")
    side.group("plain", "g-owner", "g-member")
    first = side.to_group("plain", {"content": "hello, group"}, key="g-owner")
    reply_to = first.json()["message"]["id"]
    return [
        first,
        side.to_group("plain", {"content": "@g-owner hi", "reply_to": int(reply_to)}, key="g-member"),
        side.to_group(
            "plain", {"content": "both spellings", "replyTo": reply_to, "reply_to": reply_to}, key="g-member"
        ),
        side.to_group("plain", {"content": "two targets", "replyTo": 1, "reply_to": 2}, key="g-member"),
        side.to_group("plain", {"content": "to nothing", "replyTo": 10**12}, key="g-owner"),
        side.to_group("plain", {"content": "y" * 2000}, key="g-owner"),
    ]


def group_signed(side: Side) -> list[requests.Response]:
    side.register("g-signer", publicKey=public_pem(GROUP_KEY))
    side.group("signed", "g-signer")
    return [
        side.to_group("signed", {"content": SIGNED, "signature": GROUP_SIGNATURE}, key="g-signer"),
        side.to_group("signed", {"content": "not what was signed", "signature": GROUP_SIGNATURE}, key="g-signer"),
    ]


def group_membership(side: Side) -> list[requests.Response]:
    side.register("g-host")
    side.register("g-stranger")
    side.register("g-leaver")
    group = side.group("members", "g-host", "g-leaver")
    left = requests.post(f"{side.url}/ai/groups/{group}/leave", headers=side.auth("g-leaver"), timeout=10)
    assert left.status_code == 200, left.text
    body = {"content": "may I?"}
    return [
        side.to_group("members", body, key="g-stranger"),  # not a member: 403
        side.to_group("members", body, key="g-leaver"),  # no longer one
        side.to_group("members", '{"content": "a stranger\'s bad JSON"', key="g-stranger"),
        side.to_group("members", body, key="outlaw"),
        side.to_group(NOBODY, body, key="g-stranger"),  # no such group: 404
        side.to_group("no-such-group", body, key="g-stranger"),
        side.to_group("a%20b", body, key="g-stranger"),
        side.to_group("%C3%A9t%C3%A9", body, key="g-stranger"),
        side.to_group("lobby", body, key="g-stranger"),  # a room, but no group
        side.to_group(NOBODY, '{"content": "bad JSON to no group"', key="g-stranger"),
    ]


def group_invalid(side: Side) -> list[requests.Response]:
    side.register("g-keeper")
    group = side.group("invalid", "g-keeper")
    bodies: list[bytes | str | dict] = [
        {"content": ""},
        {"content": "x" * 2001},
        {"content": 5},
        {},
        {"content": "extra fields", "extra": 1},
        {"content": "a float id", "reply_to": 1.0},
        {"content": "a true id", "replyTo": True},
        {"content": "a word id", "reply_to": "abc"},
        {"content": "bad\u0000nul"},
        {"content": "bad signature", "signature": "zz"},
        '{"content": "hi"',
        "null",
        "[1, 2]",
        b'{"content": "\xff\xfe"}',
        '{"content": NaN}',
    ]
    names = rotating(side, "g-sloppy", len(bodies), group=group)
    return [side.to_group("invalid", body, key=name) for body, name in zip(bodies, names, strict=True)]


def group_keys(side: Side) -> list[requests.Response]:
    side.register("g-keyed")
    side.group("keys", "g-keyed")
    body = {"content": "who am I?"}
    return [
        side.to_group("keys", body),
        side.to_group("keys", body, Authorization="Bearer chatr_not_a_key"),
        side.to_group("keys", body, Authorization="Token abc"),
        side.to_group("keys", '{"content": "no key and bad JSON"'),
        side.to_group("keys", body, **{"X-API-Key": side.keys["g-keyed"]}),
        side.to_group("keys", body, **{"X-API-Key": "chatr_not_a_key"}),
    ]


def group_idempotency(side: Side) -> list[requests.Response]:
    side.register("g-retrier")
    side.group("keyed", "g-retrier")
    first = {"content": "once only"}
    return [
        side.to_group("keyed", first, key="g-retrier", **{"Idempotency-Key": "k-1"}),
        side.to_group("keyed", first, key="g-retrier", **{"Idempotency-Key": "k-1"}),  # replayed
        side.to_group("keyed", {"content": "once only "}, key="g-retrier", **{"Idempotency-Key": "k-1"}),  # 409
        side.to_group("keyed", first, key="g-retrier", **{"Idempotency-Key": "x" * 65}),
        side.to_group(NOBODY, first, key="g-retrier", **{"Idempotency-Key": "k-1"}),  # another path: 409
        side.to_group("keyed", '{"content": "bad JSON, keyed"', key="g-retrier", **{"Idempotency-Key": "k-2"}),
    ]


def group_held(side: Side) -> list[requests.Response]:
    side.register("g-reviewed")
    side.group("held", "g-reviewed")
    body = {"content": "please review me"}
    return [
        side.to_group("held", body, key="g-reviewed"),
        side.to_group("held", body, key="g-reviewed", **{"Idempotency-Key": "held-1"}),
        side.to_group("held", body, key="g-reviewed", **{"Idempotency-Key": "held-1"}),
    ]


def group_limited(side: Side) -> list[requests.Response]:
    side.register("g-chatty")
    side.group("limited", "g-chatty")  # one of its 8 requests a minute
    return [side.to_group("limited", {"content": f"post {n}"}, key="g-chatty") for n in range(9)]


def group_requests_limited(side: Side) -> list[requests.Response]:
    side.register("g-hasty")
    side.group("hasty", "g-hasty")  # one of its 8 requests a minute
    return [side.to_group("hasty", '{"bad": JSON', key="g-hasty") for _ in range(9)]


def group_too_large(side: Side) -> list[requests.Response]:
    side.register("g-verbose")
    side.group("large", "g-verbose")
    return [side.to_group("large", {"content": "x" * 17_000}, key="g-verbose")]


def group_falls_through(side: Side) -> list[requests.Response]:
    side.register("g-unusual")
    group = side.group("through", "g-unusual")
    return falling(side, f"/ai/groups/{group}/messages", json.dumps({"content": "through Django"}), "g-unusual", "g-x")


def group_other_paths(side: Side) -> list[requests.Response]:
    """Paths the row's ``<str:group_id>`` does not match, as Django's ``str`` converter does not: the URLconf's."""
    side.register("g-elsewhere")
    group = side.group("elsewhere", "g-elsewhere")
    body = {"content": "wrong door"}
    return [
        side.post(body, key="g-elsewhere", path=f"/ai/groups/{group}/messages/"),
        side.post(body, key="g-elsewhere", path="/ai/groups//messages"),
        side.post(body, key="g-elsewhere", path=f"/ai/groups/{group}/x/messages"),
        side.post(body, key="g-elsewhere", path=f"/ai/groups/{group}/Messages"),
    ]


def seed_calls(side: Side, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The headers of the aiclient documentation's examples (/work/shared/seeds/aiclient-api.txt): curl's, fetch's."""
    auth = side.auth(name)
    curl = {"User-Agent": "curl/8.5.0", "Accept": "*/*", "Content-Type": "application/json", **auth}
    fetch = {
        **auth,
        "Content-Type": "application/json",
        "Accept": "*/*",
        "User-Agent": "node",
        "Sec-Fetch-Mode": "cors",
    }
    return curl, fetch


def seeds_dm(side: Side) -> list[requests.Response]:
    """The documentation's direct messages, as curl, Python's requests and fetch send them."""
    side.register("seed")
    side.register("seed-friend")
    curl, fetch = seed_calls(side, "seed")
    to = side.ids["seed-friend"]
    body = f'{{\n"toAiId": "{to}",\n"content": "你好!"\n}}'.encode()
    url = f"{side.url}/ai/messages"
    return [
        requests.post(url, data=body, headers=curl, timeout=10),
        requests.post(url, headers=side.auth("seed"), json={"toAiId": to, "content": "你好!"}, timeout=10),
        requests.post(url, data=json.dumps({"toAiId": to, "content": "你好!"}).encode(), headers=fetch, timeout=10),
    ]


def seeds_group(side: Side) -> list[requests.Response]:
    """The documentation's group post (after its group creation), as curl sends it."""
    side.register("seed-host")
    curl, _ = seed_calls(side, "seed-host")
    group = side.group("测试群", "seed-host")
    body = '{\n"content": "大家好!"\n}'.encode()
    return [requests.post(f"{side.url}/ai/groups/{group}/messages", data=body, headers=curl, timeout=10)]


CASES: dict[str, tuple[Case, str, int, int]] = {
    # name: (case, route, requests the command answers, requests it hands to Django)
    "plain": (plain, LOBBY, 1, 0),
    "signed": (signed, LOBBY, 2, 0),
    "conversation": (conversation, LOBBY, 4, 0),
    "invalid": (invalid, LOBBY, 22, 0),
    "keys": (keys, LOBBY, 7, 0),
    "forbidden": (forbidden, LOBBY, 3, 0),
    "idempotency": (idempotency, LOBBY, 6, 0),
    "held": (held, LOBBY, 3, 0),
    "limited": (limited, LOBBY, 5, 0),
    "too_large": (too_large, LOBBY, 0, 0),  # the body limit answers before any chain
    "falls_through": (falls_through, LOBBY, 0, 8),  # and an OPTIONS, which is no POST
    "dm_plain": (dm_plain, DIRECT, 1, 0),
    "dm_signed": (dm_signed, DIRECT, 3, 0),
    "dm_recipients": (dm_recipients, DIRECT, 4, 0),
    "dm_invalid": (dm_invalid, DIRECT, 22, 0),
    "dm_keys": (dm_keys, DIRECT, 9, 0),
    "dm_idempotency": (dm_idempotency, DIRECT, 7, 0),
    "dm_held": (dm_held, DIRECT, 3, 0),
    "dm_limited": (dm_limited, DIRECT, 6, 0),  # 4 a minute
    "dm_requests_limited": (dm_requests_limited, DIRECT, 10, 0),  # 8 requests a minute, counted before the body
    "dm_too_large": (dm_too_large, DIRECT, 0, 0),
    "dm_falls_through": (dm_falls_through, DIRECT, 0, 8),
    "group_plain": (group_plain, GROUP, 6, 0),
    "group_signed": (group_signed, GROUP, 2, 0),
    "group_membership": (group_membership, GROUP, 10, 0),
    "group_invalid": (group_invalid, GROUP, 15, 0),
    "group_keys": (group_keys, GROUP, 6, 0),
    "group_idempotency": (group_idempotency, GROUP, 6, 0),
    "group_held": (group_held, GROUP, 3, 0),
    "group_limited": (group_limited, GROUP, 9, 0),  # 4 posts a minute (a group's limit is the DMs')
    "group_requests_limited": (group_requests_limited, GROUP, 9, 0),
    "group_too_large": (group_too_large, GROUP, 0, 0),
    "group_falls_through": (group_falls_through, GROUP, 0, 8),
    "group_other_paths": (group_other_paths, GROUP, 0, 0),  # no command's path: the URLconf's 404s
    "seeds_dm": (seeds_dm, DIRECT, 3, 0),
    "seeds_group": (seeds_group, GROUP, 1, 0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_command_answers_as_the_view(sides, name):
    case, route, answered, fell_through = CASES[name]
    with_command, without = sides
    before = with_command.commands(route), without.commands(route)
    counted = [side.posts_counted(route) for side in sides]
    answers = [[answer_of(response) for response in case(side)] for side in sides]
    assert answers[0] == answers[1]
    deltas = [
        {
            status: value - was.get(status, 0)
            for status, value in side.posts_counted(route).items()
            if value != was.get(status)
        }
        for side, was in zip(sides, counted, strict=True)
    ]
    assert deltas[0] == deltas[1]
    assert sum(deltas[0].values()) == answered + fell_through  # every POST that reached the pipeline, once
    after = with_command.commands(route), without.commands(route)
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
    "dm_plain": [201],
    "dm_signed": [201, 400, 400],
    "dm_recipients": [404, 400, 404, 404],
    "dm_invalid": [400] * 10 + [201, 201] + [400] * 10,
    "dm_keys": [401, 401, 401, 401, 401, 201, 401, 403, 403],
    "dm_idempotency": [201, 201, 409, 400, 400, 400, 404],
    "dm_held": [202, 202, 202],
    "dm_limited": [201, 201, 201, 201, 429, 429],
    "dm_requests_limited": [400] * 8 + [429, 429],
    "dm_too_large": [413],
    "dm_falls_through": [415, 415, 201, 406, 400, 201, 401, 401, 401],  # OPTIONS of an /ai view needs a key
    "group_plain": [201, 201, 201, 400, 400, 201],
    "group_signed": [201, 400],
    "group_membership": [403, 403, 400, 403, 404, 404, 404, 404, 404, 400],
    "group_invalid": [400] * 4 + [201] + [400] * 10,
    "group_keys": [401, 401, 401, 401, 201, 401],
    "group_idempotency": [201, 201, 409, 400, 409, 400],
    "group_held": [202, 202, 202],
    "group_limited": [201] * 4 + [429] * 5,
    "group_requests_limited": [400] * 7 + [429, 429],
    "group_too_large": [413],
    "group_falls_through": [415, 415, 201, 406, 400, 201, 401, 401, 401],
    "group_other_paths": [404, 404, 404, 404],
    "seeds_dm": [201, 201, 201],
    "seeds_group": [201],
}
