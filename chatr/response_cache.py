"""Ready-made answers for the hottest reads, served from the event loop without entering Django.

A *rule* names a path whose answer depends only on versioned state (``realtime.versions``): for a request
it gives the scopes the answer depends on (or ``None``: not cacheable, e.g. a history cursor) and how
long an answer may live at most. The first request renders through Django as usual; its answer (status
200, no cookie) is kept with the versions read *before* it was rendered, and later requests get the
same bytes while those versions are current — one dictionary lookup in process, one ``MGET`` with
Redis — with an ``ETag`` and ``304`` for ``If-None-Match``. Concurrent misses of one answer render it
once. Nothing else changes for the client: the edge (``chatr.edge``) counts the per-IP request limit (with its
headers) and logs the request as for any other answer; a key in the request (presence) skips the cache, and the
edge has refused a foreign Host or a NUL in the query before the cache is asked. The kept headers are the
edge's already (``nosniff`` in), so that a request adds its limit headers only when it met a limit.

A kept answer is served only to requests whose every input it is keyed on (contract §1: a request's
headers never change what another client receives). For an answer that negotiates its format (DRF's
JSON renderer follows ``Accept: application/json; indent=4``), that means an ``Accept`` that is absent,
``*/*`` or exactly ``application/json``; any other goes to the view, and that answer is not kept —
otherwise one request right after a change would decide every client's bytes. A page renders the same
whatever the ``Accept``, so a browser's is no input of it.

Each path keeps at most ``MAX_VARIANTS_PER_PATH`` query-string spellings, least recently used dropped
first, so a flood of junk spellings only ever pushes out other junk and never stops a new spelling
from being kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatr import request_settings
from chatr.edge import finished
from chatr.errors import is_outage

logger = logging.getLogger("chatr.response_cache")

Scope = dict[str, Any]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
App = Callable[..., Awaitable[None]]

MAX_VARIANTS_PER_PATH = 32
# Header names are compared lowercased: Django's pages give them as set ("Content-Length"), the API lowercased.
_BODY_HEADERS = frozenset({b"content-length", b"content-type"})
_PER_REQUEST_HEADERS = frozenset({b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"})
_SKIP_HEADERS = (b"authorization", b"x-api-key")
# Accept values under which a negotiating view gives its default rendering, the one kept.
_DEFAULT_ACCEPT = frozenset({b"*/*", b"application/json"})


@dataclass(frozen=True)
class Rule:
    """Which versions an answer of one path depends on, given its query string (None: not cached)."""

    scopes: Callable[[bytes], Sequence[str] | None]
    max_age: Callable[[], float] | None = None  # seconds, for answers that also change with time alone
    negotiates: bool = True  # whether the view picks its rendering by ``Accept`` (DRF views do; pages do not)


@dataclass
class Answer:
    version: tuple
    status: int
    headers: list[tuple[bytes, bytes]]  # as the edge completes them (``chatr.edge.finished``)
    body: bytes
    etag: bytes
    born: float
    not_modified_headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # the 304's: no body's headers

    def __post_init__(self) -> None:
        self.headers = finished(self.headers)
        self.not_modified_headers = finished(
            [(name, value) for name, value in self.headers if name.lower() not in _BODY_HEADERS]
        )


class ResponseCache:
    def __init__(self, rules: dict[str, Rule], current: Callable[[Sequence[str]], Awaitable[tuple]]) -> None:
        self.rules = rules
        self.current = current
        self.answers = Variants(MAX_VARIANTS_PER_PATH)
        self.rendering: dict[tuple[str, bytes, tuple], asyncio.Future[Answer | None]] = {}

    def handles(self, scope: Scope) -> Rule | None:
        if not request_settings.current().response_cache or scope["method"] not in ("GET", "HEAD"):
            return None
        rule = self.rules.get(scope["path"])
        if rule is None:
            return None
        accepts: list[bytes] = []
        for name, value in scope["headers"]:
            if name in _SKIP_HEADERS:
                return None  # an authenticated request also marks its agent online: Django's business
            if name == b"accept":
                accepts.append(value)
        if rule.negotiates and not default_rendering(accepts):
            return None  # another rendering: the view answers, and nothing of it is kept
        return rule  # a NUL in the query or a foreign Host never gets here: the edge refused it

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
        if answer is None or answer.version != version or (rule.max_age is not None and _too_old(answer, rule)):
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
            if captured["status"] == 200 and not any(name.lower() == b"set-cookie" for name, _ in headers):
                kept = [(name, value) for name, value in headers if name.lower() not in _PER_REQUEST_HEADERS]
                answer = Answer(version, 200, [*kept, (b"etag", etag)], body, etag, time.monotonic())
                self._keep(key, answer)
                headers = [*headers, (b"etag", etag)]
            await send({"type": "http.response.start", "status": captured["status"], "headers": headers})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        finally:
            del self.rendering[flight]
            pending.set_result(answer)

    def _keep(self, key: tuple[str, bytes], answer: Answer) -> None:
        self.answers[key] = answer

    async def _send(self, scope: Scope, send: Send, answer: Answer, started: float) -> None:
        # The per-IP limit, its headers, the log line and the metrics are the edge's (chatr.edge), as for any answer.
        status, headers = 200, answer.headers
        body = b"" if scope["method"] == "HEAD" else answer.body
        if _header(scope, b"if-none-match") in (answer.etag, b"*"):
            status, body, headers = 304, b"", answer.not_modified_headers
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Variants:
    """Kept answers by (path, query string): per path at most ``per_path`` spellings, least recently used
    dropped first. A lookup counts as a use, so the spellings clients actually ask for stay."""

    def __init__(self, per_path: int) -> None:
        self.per_path = per_path
        self._paths: dict[str, OrderedDict[bytes, Answer]] = {}

    def get(self, key: tuple[str, bytes]) -> Answer | None:
        path, query = key
        spellings = self._paths.get(path)
        if spellings is None:
            return None
        answer = spellings.get(query)
        if answer is not None:
            spellings.move_to_end(query)
        return answer

    def __setitem__(self, key: tuple[str, bytes], answer: Answer) -> None:
        path, query = key
        spellings = self._paths.setdefault(path, OrderedDict())
        spellings[query] = answer
        spellings.move_to_end(query)
        while len(spellings) > self.per_path:
            spellings.popitem(last=False)

    def __contains__(self, key: tuple[str, bytes]) -> bool:
        spellings = self._paths.get(key[0])
        return spellings is not None and key[1] in spellings

    def __len__(self) -> int:
        return sum(len(spellings) for spellings in self._paths.values())


def default_rendering(accepts: list[bytes]) -> bool:
    """Whether the ``Accept`` lines ask for nothing but the default JSON (absent, ``*/*`` or exactly
    ``application/json``); parameters (``indent=4``, a q-value) and lists go to the view."""
    if not accepts:
        return True
    return len(accepts) == 1 and accepts[0].strip() in _DEFAULT_ACCEPT


def _too_old(answer: Answer, rule: Rule) -> bool:
    return rule.max_age is not None and time.monotonic() - answer.born > rule.max_age()


def _header(scope: Scope, wanted: bytes) -> bytes:
    for name, value in scope["headers"]:
        if name == wanted:
            return value
    return b""
