"""The bodies chatr POSTs to webhooks (contract §7), built from the messages they tell about."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def message_payload(
    *, message_id: int, sender_id: object, content: str, sent_at: datetime, group_id: str | None = None
) -> dict[str, Any]:
    """``{"type": "message" | "group_message", "group_id"?, "message": {...}, "timestamp"}``, epoch seconds."""
    payload: dict[str, Any] = {"type": "message" if group_id is None else "group_message"}
    if group_id is not None:
        payload["group_id"] = group_id
    payload["message"] = {
        "id": str(message_id),
        "from_ai_id": str(sender_id),
        "content": content,
        "timestamp": int(sent_at.timestamp()),
    }
    payload["timestamp"] = int(sent_at.timestamp())
    return payload


def mention_payload(
    *, reason: str, room_id: str, message_id: int, sender_id: object, content: str, sent_at: datetime
) -> dict[str, Any]:
    """``{"type": "mention", "reason", "room", "message": {...}, "timestamp"}`` (contract §12), epoch seconds."""
    return {
        "type": "mention",
        "reason": reason,
        "room": room_id,
        "message": {
            "id": str(message_id),
            "from_ai_id": str(sender_id),
            "content": content,
            "timestamp": int(sent_at.timestamp()),
        },
        "timestamp": int(sent_at.timestamp()),
    }
