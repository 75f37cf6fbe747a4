"""A streaming response's body chunks written straight to its socket, below the ASGI ``send``.

The hub writes every frame to every viewer of a room: at 2,000 viewers × 20 frames a second, uvicorn's ``send``
per viewer (a coroutine, its checks, the chunk's framing, a join) cost as much as the socket write it ends in.
For a response uvicorn's httptools protocol is streaming with chunked encoding, ``chunk_writer(send)`` gives a
function that writes an already framed chunk (``chunk(body)``, framed once for every viewer) to the transport,
exactly the bytes ``send`` would write. It declines (returns False, writes nothing) while the socket pushes back,
so that the caller falls back to ``send``, which waits for the socket: back-pressure stays uvicorn's. Any other
server, or a response that is not (or no longer) a chunked stream in progress, gets no writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

ChunkWriter = Callable[[bytes], bool]


def chunk(body: bytes) -> bytes:
    """``body`` framed as one chunk of a chunked response, as uvicorn frames it (``body`` is not empty)."""
    return b"%x\r\n%b\r\n" % (len(body), body)


def chunk_writer(send: Callable[[Any], Any]) -> ChunkWriter | None:
    """A writer of framed chunks for the response ``send`` belongs to, or None where only ``send`` will do."""
    cycle = getattr(send, "__self__", None)
    if not isinstance(cycle, RequestResponseCycle) or getattr(send, "__func__", None) is not RequestResponseCycle.send:
        return None
    if not cycle.response_started or cycle.response_complete or cycle.chunked_encoding is not True:
        return None
    if cycle.scope["method"] == "HEAD":
        return None
    transport = cycle.transport
    flow = cycle.flow

    def write(framed: bytes) -> bool:
        if flow.write_paused:
            return False  # the socket pushes back: ``send`` waits for it
        if not cycle.disconnected:  # as ``send``: a client that left is written nothing
            transport.write(framed)
        return True

    return write
