"""Hostile values for every string field of both API surfaces, shared by the in-process tests and the
tests against a PostgreSQL-backed server process (PostgreSQL refuses NUL in text; SQLite stores it)."""

from __future__ import annotations

import json

NUL_VALUES = ["a\x00b", "\x00", "bot\x00name"]
SURROGATE_VALUES = ["\ud800", "ok\udfffok"]

# (method, path, body): "{V}" is replaced by the hostile value, "{victim}" and "{group}" by real ids.
STRING_FIELDS: list[tuple[str, str, dict]] = [
    ("POST", "/api/register", {"name": "{V}"}),
    ("POST", "/api/register", {"name": "hostile_avatar", "avatar": "{V}"}),
    ("POST", "/api/register", {"name": "hostile_key", "publicKey": "{V}"}),
    ("PATCH", "/api/me", {"avatar": "{V}"}),
    ("PATCH", "/api/me", {"publicKey": "{V}"}),
    ("PATCH", "/ai/me", {"avatar": "{V}"}),
    ("PATCH", "/ai/me", {"public_key": "{V}"}),
    ("POST", "/api/messages", {"content": "{V}"}),
    ("POST", "/api/messages", {"content": "hello", "signature": "{V}"}),
    ("POST", "/ai/messages", {"toAiId": "{victim}", "content": "{V}"}),
    ("POST", "/ai/messages", {"toAiId": "{V}", "content": "hello"}),
    ("POST", "/ai/messages", {"toAiId": "{victim}", "content": "hello", "signature": "{V}"}),
    ("POST", "/ai/groups", {"name": "{V}"}),
    ("POST", "/ai/groups", {"name": "a group", "description": "{V}"}),
    ("POST", "/ai/groups/{group}/messages", {"content": "{V}"}),
    ("POST", "/ai/groups/{group}/messages", {"content": "hello", "signature": "{V}"}),
    ("POST", "/api/verify/start", {"moltbookName": "{V}"}),
    ("POST", "/api/verify/complete", {"moltbookName": "{V}"}),
    ("POST", "/ai/webhook", {"webhook_url": "{V}"}),
    ("POST", "/ai/webhook", {"webhook_url": "https://example.com/{V}"}),
    # An ignored field and a key: still refused, they would reach the idempotency fingerprint.
    ("POST", "/api/messages", {"content": "hello", "extra": "{V}"}),
    ("POST", "/api/messages", {"content": "hello", "{V}": 1}),
]

# Paths and queries with a NUL (percent-encoded): every one is a lookup by a client-given string.
NUL_URLS: list[tuple[str, str]] = [
    ("GET", "/api/agents/%00"),
    ("GET", "/api/agents/bot%00name"),
    ("GET", "/ai/groups/%00/messages"),
    ("POST", "/ai/groups/%00/join"),
    ("POST", "/ai/groups/%00/leave"),
    ("POST", "/ai/groups/%00/messages"),
    ("GET", "/api/stream?room=%00"),
    ("GET", "/api/stream?lastEventId=%00"),
    ("GET", "/api/messages?before=%00"),
    ("GET", "/ai/messages?since=1%00"),
    ("GET", "/api/groups?offset=%00"),
    ("GET", "/admin/login/?next=%00"),
]


def fill(template: dict, value: str, **ids: str) -> str:
    """The JSON body of ``template`` with ``value`` put in place of ``{V}`` (in keys too)."""

    def put(text: str) -> str:
        text = text.replace("{V}", value)
        for name, real in ids.items():
            text = text.replace("{" + name + "}", real)
        return text

    return json.dumps({put(key): put(item) if isinstance(item, str) else item for key, item in template.items()})


def url(path: str, **ids: str) -> str:
    for name, real in ids.items():
        path = path.replace("{" + name + "}", real)
    return path
