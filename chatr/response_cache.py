"""Ready-made answers for the hottest reads, served from the event loop without entering Django.

A *rule* names a path whose answer depends only on versioned state (``chat.freshness``): for a request
it gives the scopes the answer depends on (or ``None``: not cacheable, e.g. a history cursor) and how
long an answer may live at most. The first request renders through Django as usual; its answer (status
200, no cookie) is kept with the versions read *before* it was rendered, and later requests get the
same bytes while those versions are current — one dictionary lookup in process, one ``MGET`` with
Redis — with an ``ETag`` and ``304`` for ``If-None-Match``. Concurrent misses of one answer render it
once. Nothing else changes for the client: the edge (``chatr.edge``) counts the per-IP request limit (with its
headers) and logs the request as for any other answer; a key in the request (presence) or a foreign Host skips
the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from chatr.errors import is_outage

logger = logging.getLogger("chatr.response_cache")

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[..., Awaitable[None]]

MAX_VARIANTS_PER_PATH = 32
_PER_REQUEST_HEADERS = frozenset({b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"})
_SKIP_HEADERS = (b"authorization", b"x-api-key")


@dataclass(frozen=True)
class Rule:
    """Which versions an answer of one path depends on, given its query string (None: not cached)."""

    scopes: Callable[[bytes], Sequence[str] | None]
    max_age: Callable[[], float] | None = None  # seconds, for answers that also change with time alone


@dataclass
class Answer:
    version: tuple
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes
    born: float


class ResponseCache:
    def __init__(self, rules: dict[str, Rule], current: Callable[[Sequence[str]], Awaitable[tuple]]) -> None:
        self.rules = rules
        self.current = current
        self.answers: dict[tuple[str, bytes], Answer] = {}
        self.variants: dict[str, int] = {}
        self.rendering: dict[tuple[str, bytes, tuple], asyncio.Future[Answer | None]] = {}
        self._hosts: dict[bytes, bool] = {}

    def handles(self, scope: Scope) -> Rule | None:
        if not settings.CHATR_RESPONSE_CACHE or scope["method"] not in ("GET", "HEAD"):
            return None
        rule = self.rules.get(scope["path"])
        if rule is None:
            return None
        host = b""
        for name, value in scope["headers"]:
            if name in _SKIP_HEADERS:
                return None  # an authenticated request also marks its agent online: Django's business
            if name == b"host":
                host = value
        if b"%00" in scope["query_string"] or not self._host_allowed(host):
            return None  # Django refuses these with its own answers
        return rule

    async def serve(self, scope: Scope, receive: Any, send: Send, rule: Rule, render: App) -> None:
        started = time.perf_counter()
        path, query = scope["path"], scope["query_string"]
        scopes = rule.scopes(query)
        if scopes is None:
            await render(scope, receive, send)
            return
        try:
            version = await self.current(scopes)
        except Exception as error:
            if not is_outage(error):
                raise
            await render(scope, receive, send)  # Redis is away: Django answers (503 if it must)
            return
        key = (path, query)
        answer = self.answers.get(key)
        if answer is None or answer.version != version or _too_old(answer, rule):
            flight = (path, query, version)
            pending = self.rendering.get(flight)
            if pending is None:
                await self._render(scope, receive, send, key, version, render)
                return
            answer = await asyncio.shield(pending)
            if answer is None:  # the first one's answer was not for keeping: render for this request too
                await render(scope, receive, send)
                return
        await self._send(scope, send, answer, started)

    async def _render(
        self, scope: Scope, receive: Any, send: Send, key: tuple[str, bytes], version: tuple, render: App
    ) -> None:
        flight = (*key, version)
        pending: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self.rendering[flight] = pending
        captured: dict[str, Any] = {"body": []}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))

        answer = None
        try:
            await render(scope, receive, capture)
            body = b"".join(captured["body"])
            headers = captured["headers"]
            etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
            if captured["status"] == 200 and not any(name == b"set-cookie" for name, _ in headers):
                kept = [(name, value) for name, value in headers if name not in _PER_REQUEST_HEADERS]
                answer = Answer(version, 200, [*kept, (b"etag", etag)], body, etag, time.monotonic())
                self._keep(key, answer)
                headers = [*headers, (b"etag", etag)]
            await send({"type": "http.response.start", "status": captured["status"], "headers": headers})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        finally:
            del self.rendering[flight]
            pending.set_result(answer)

    def _keep(self, key: tuple[str, bytes], answer: Answer) -> None:
        path = key[0]
        if key not in self.answers:
            if self.variants.get(path, 0) >= MAX_VARIANTS_PER_PATH:
                return  # many spellings of one query: only the first few are kept
            self.variants[path] = self.variants.get(path, 0) + 1
        self.answers[key] = answer

    async def _send(self, scope: Scope, send: Send, answer: Answer, started: float) -> None:
        # The per-IP limit, its headers, the log line and the metrics are the edge's (chatr.edge), as for any answer.
        status, headers = 200, answer.headers
        body = b"" if scope["method"] == "HEAD" else answer.body
        if _header(scope, b"if-none-match") in (answer.etag, b"*"):
            status, body = 304, b""
            headers = [(name, value) for name, value in headers if name not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _host_allowed(self, host: bytes) -> bool:
        allowed = self._hosts.get(host)
        if allowed is None:
            domain, _ = split_domain_port(host.decode("latin-1"))
            allowed = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
            if len(self._hosts) < 1024:
                self._hosts[host] = allowed
        return allowed


def _too_old(answer: Answer, rule: Rule) -> bool:
    return rule.max_age is not None and time.monotonic() - answer.born > rule.max_age()


def _header(scope: Scope, wanted: bytes) -> bytes:
    for name, value in scope["headers"]:
        if name == wanted:
            return value
    return b""
