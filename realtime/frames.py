"""The SSE wire format: how an event becomes the bytes of one frame (contract §5).

An event is a dict ``{"type": ..., "data": ...}``, built by the app that owns it. ``event_id`` is the
id of the newest message it carries, for the SSE ``id:`` line, or ``None``. ``encode`` turns an event
into one unnamed SSE frame (no ``event:`` line, so ``EventSource.onmessage`` sees every frame).
"""

from __future__ import annotations

import json
from typing import Any

RETRY = b"retry: 3000\n\n"
PING = b": ping\n\n"

_ITEM_TYPES = frozenset({"message", "direct", "mention"})


def event_id(event: dict[str, Any]) -> int | None:
    """The id for the SSE ``id:`` line: the newest message id the event carries."""
    data: Any = event.get("data")
    if event["type"] == "history":
        return int(data[-1]["id"]) if data else None
    if event["type"] in _ITEM_TYPES:
        return int(data["id"])
    return None


def frame_id(frame: bytes) -> int | None:
    """The ``id:`` of an encoded frame, or ``None`` for a frame without one."""
    if not frame.startswith(b"id: "):
        return None
    return int(frame[4 : frame.index(b"\n")])


def encode(event: dict[str, Any]) -> bytes:
    """One SSE frame: an ``id:`` line when the event carries messages, then one ``data:`` line of JSON."""
    # JSON escapes every newline inside strings, so the data always fits on one line.
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    number = event_id(event)
    head = f"id: {number}\n" if number is not None else ""
    return f"{head}data: {data}\n\n".encode()
