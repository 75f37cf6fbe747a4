"""Request bodies are capped before Django reads them (contract §1: 16 KiB).

Django's ASGI handler reads a request's whole body (into memory, then a temporary file) before any
middleware runs, however large it is: without this, one client could send gigabytes, chunked and
without a Content-Length, to any URL and fill the server's memory and disk before the 413.
``BodyLimit`` wraps the ASGI application: it reads at most ``CHATR_MAX_BODY_BYTES`` and answers 413
itself beyond that (at once when Content-Length already says so), closing the connection.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from chatr.errors import error_body, is_api_path

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.CHATR_MAX_BODY_BYTES
        if _declared_length(scope) > limit:
            await _refuse(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the application see it
                await self.app(scope, _replaying(message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # Django's WSGI handler reads a body by its Content-Length: a chunked one gets it here.
        headers = [(name, value) for name, value in scope.get("headers", ()) if name != b"content-length"]
        if body or scope.get("method") not in {"GET", "HEAD", "OPTIONS"}:
            headers.append((b"content-length", str(len(body)).encode()))
        whole = {"type": "http.request", "body": body, "more_body": False}
        await self.app({**scope, "headers": headers}, _replaying(whole, receive), send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length itself; counting still applies
    return 0


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive`` that hands out ``first`` once, then the real messages (a later disconnect)."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    message = f"The request body is larger than {limit // 1024} KiB."
    if is_api_path(scope.get("path", "")):
        body = json.dumps(error_body(status=413, code="payload_too_large", message=message)).encode()
        content_type = b"application/json"
    else:
        body, content_type = message.encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
