"""Request bodies are capped, and charsets checked, before Django reads them (contract §1).

Django's ASGI handler reads a request's whole body (into memory, then a temporary file) before any
middleware runs, however large it is: without this, one client could send gigabytes, chunked and
without a Content-Length, to any URL and fill the server's memory and disk before the 413.
``BodyLimit`` wraps the ASGI application: it reads at most ``CHATR_MAX_BODY_BYTES`` and answers 413
itself beyond that (at once when Content-Length already says so), closing the connection.

A ``Content-Type`` whose ``charset`` is anything but UTF-8 is 415 here, on every path, before a byte
is read: Python's codec registry holds compressors and transforms (``bz2_codec`` inflated a 211-byte
body to 200 MB; ``rot13`` broke query-string decoding), so no client-chosen charset may ever reach
``codecs`` — not in the JSON parser, not in Django's query-string or form decoding.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from chatr import request_settings
from chatr.errors import error_body, error_response, is_api_path

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        utf8, declared = _charset_and_length(scope)
        if not utf8:
            await _refuse(scope, send, 415, "unsupported_media_type", "Only UTF-8 is accepted: send charset=utf-8.")
            return
        limit = request_settings.current().max_body_bytes
        if declared is not None and _length(declared) > limit:
            await _refuse_too_large(scope, send, limit)
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
                await _refuse_too_large(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # Django's WSGI handler reads a body by its Content-Length: a chunked one gets it here.
        if declared is None:
            headers = list(scope.get("headers", ()))
        else:
            headers = [(name, value) for name, value in scope.get("headers", ()) if name != b"content-length"]
        if body or scope.get("method") not in {"GET", "HEAD", "OPTIONS"}:
            headers.append((b"content-length", str(len(body)).encode()))
        whole = {"type": "http.request", "body": body, "more_body": False}
        await self.app({**scope, "headers": headers}, _replaying(whole, receive), send)


def _charset_and_length(scope: Scope) -> tuple[bool, bytes | None]:
    """In one pass over the headers: False when a Content-Type names a charset other than UTF-8 (any case,
    quoted or not), and the first Content-Length (``None`` without one)."""
    utf8, declared = True, None
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            for parameter in value.split(b";")[1:]:
                key, _, charset = parameter.partition(b"=")
                if key.strip().lower() == b"charset" and charset.strip().strip(b'"').lower() != b"utf-8":
                    utf8 = False
        elif name == b"content-length" and declared is None:
            declared = value
    return utf8, declared


def _length(declared: bytes) -> int:
    try:
        return int(declared)
    except ValueError:
        return 0  # the server refuses a malformed length itself; counting still applies


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive`` that hands out ``first`` once, then the real messages (a later disconnect)."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse_too_large(scope: Scope, send: Send, limit: int) -> None:
    await _refuse(scope, send, 413, "payload_too_large", _too_large_message(limit))


def _too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit // 1024} KiB."


def too_large(request: HttpRequest) -> HttpResponse | None:
    """The same 413 for a request that reached Django without passing ``BodyLimit`` (the test client)."""
    limit = request_settings.current().max_body_bytes
    try:
        over = int(request.META.get("CONTENT_LENGTH") or 0) > limit or len(request.body) > limit
    except (ValueError, RequestDataTooBig):
        over = True
    if not over:
        return None
    if is_api_path(request.path_info):
        return error_response(status=413, code="payload_too_large", message=_too_large_message(limit))
    return HttpResponse(_too_large_message(limit), status=413, content_type="text/plain; charset=utf-8")


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """Answer without reading the body, and close the connection (the rest of the body is never read)."""
    if is_api_path(scope.get("path", "")):
        body = json.dumps(error_body(status=status, code=code, message=message)).encode()
        content_type = b"application/json"
    else:
        body, content_type = message.encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
