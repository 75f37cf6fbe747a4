"""Request line and headers over 16 KiB: 431, before the parser holds more than that (contract §1).

uvicorn parses a request's head before the application sees anything, and with httptools (its fast
parser) nothing bounds it: a header of any size is read whole, and a few streams with huge headers
grow the server by their size, memory it never gives back (SECURITY.md). h11 has a bound
(``h11_max_incomplete_event_size``) but answers 400, and is slower.

``BoundedHttpToolsProtocol`` is uvicorn's httptools protocol that counts the bytes of each request's
head as they arrive. Data is fed to the parser only up to the bound; if the head has not ended by then,
the answer is 431 in the contract's error shape and the connection closes, so the parser never holds
more than 16 KiB of a head, however much the client sends. ``python -m chatr.serve`` (``make run``)
serves with it.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024

_BODY = json.dumps(
    {
        "success": False,
        "error": "The request line and headers together may not exceed 16 KiB.",
        "code": "request_header_fields_too_large",
    }
).encode()
RESPONSE_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the head of every request bounded to ``MAX_HEAD_BYTES``."""

    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests, or inside a request line and headers
        self._head_bytes = 0  # bytes received since the current head began (at most one read early)
        self._heads_done = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_head:
            super().data_received(data)
            return
        room = self.max_head_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # This read would take the head past the bound: feed exactly up to it, and see whether the
        # head ended within those bytes. If it did, the rest is body or the next request.
        heads_done = self._heads_done
        self._head_bytes += room
        if room:
            super().data_received(data[:room])
        if self._heads_done == heads_done and self._in_head and not self.transport.is_closing():
            self._refuse()
            return
        self.data_received(data[room:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads_done += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        # The next bytes begin the next request's head (pipelined bytes already read in the same
        # chunk are not counted: at most one read, which the transport bounds).
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _refuse(self) -> None:
        self._refused = True
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(RESPONSE_431)
        self.transport.close()
