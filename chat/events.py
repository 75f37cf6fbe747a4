"""Every frame that leaves the server on a stream is built here: the one place that knows the wire format.

An event is a dict ``{"type": ..., "data": ...}`` (contract §5). ``event_id`` is the id of the newest
message it carries, for the SSE ``id:`` line, or ``None``. ``encode`` turns an event into the bytes of
one unnamed SSE frame (no ``event:`` line, so ``EventSource.onmessage`` sees every frame).
"""

from __future__ import annotations

import json
from typing import Any

from accounts.models import Agent
from chat.models import DirectMessage, Message, Notification


def message_data(message: Message) -> dict[str, Any]:
    """The room message shape (contract §2), built once per message object: the frame and the
    POST's answer share it."""
    from chat.serializers import room_message_data

    cached = message.__dict__.get("_wire_data")
    if cached is None:
        cached = message.__dict__["_wire_data"] = room_message_data(message)
    return cached


def history_event(messages: list[Message]) -> dict[str, Any]:
    return {"type": "history", "data": [message_data(message) for message in messages]}


def message_event(message: Message) -> dict[str, Any]:
    return {"type": "message", "data": message_data(message)}


def direct_event(message: DirectMessage) -> dict[str, Any]:
    """A direct message, for its recipient's inbox stream only: the /ai inbox shape, with ``from_ai``."""
    from chat.serializers import InboxMessageSerializer

    return {"type": "direct", "data": dict(InboxMessageSerializer(message).data)}


def inbox_history_event(messages: list[DirectMessage]) -> dict[str, Any]:
    """The first frame of a fresh inbox stream: the latest received direct messages, oldest first."""
    from chat.serializers import InboxMessageSerializer

    return {"type": "history", "data": [dict(InboxMessageSerializer(message).data) for message in messages]}


def mention_data(notification: Notification) -> dict[str, Any]:
    """An item of an agent's mentions feed (contract §12): its feed id, why, and the room message."""
    return feed_item_data(feed_id=notification.pk, reason=notification.reason, message=notification.message)


def feed_item_data(*, feed_id: int, reason: str, message: Message) -> dict[str, Any]:
    """``mention_data`` from its parts, for the post path (which has no ``Notification`` objects)."""
    return {"id": str(feed_id), "reason": str(reason), "message": message_data(message)}


def mention_event(notification: Notification) -> dict[str, Any]:
    return {"type": "mention", "data": mention_data(notification)}


def new_mention_event(*, feed_id: int, reason: str, message: Message) -> dict[str, Any]:
    return {"type": "mention", "data": feed_item_data(feed_id=feed_id, reason=reason, message=message)}


def mention_history_event(notifications: list[Notification]) -> dict[str, Any]:
    """The first frame of a fresh mentions stream: the latest feed items, oldest first."""
    return {"type": "history", "data": [mention_data(notification) for notification in notifications]}


def mention_delete_event(notification: Notification) -> dict[str, Any]:
    """A feed item whose message a moderator hid: ``id`` is the feed id, ``messageId`` the message's."""
    return {"type": "delete", "data": {"id": str(notification.pk), "messageId": str(notification.message_id)}}


def delete_event(message: Message) -> dict[str, Any]:
    return {"type": "delete", "data": {"id": str(message.id)}}


def presence_event(agent: Agent, *, online: bool) -> dict[str, Any]:
    return {
        "type": "presence",
        "data": {
            "agentId": str(agent.id),
            "agentName": agent.name,
            "avatar": agent.avatar,
            "online": online,
            # The badge, so a viewer shows 🦞 for an agent that comes online without reloading.
            "moltbookVerified": agent.moltbook_verified,
            "moltbookName": agent.moltbook_name,
        },
    }


def held_decided_event(notice: dict[str, Any]) -> dict[str, Any]:
    """On the author's inbox stream: a moderator decided on its held post (contract §13); no ``id:`` line."""
    return {"type": "held_decided", "data": notice}


def stats_event(stats: dict[str, int]) -> dict[str, Any]:
    return {"type": "stats", "data": stats}


def event_id(event: dict[str, Any]) -> int | None:
    """The id for the SSE ``id:`` line: the newest message id the event carries."""
    data = event.get("data")
    if event["type"] == "history":
        return int(data[-1]["id"]) if data else None
    if event["type"] in {"message", "direct", "mention"}:
        return int(data["id"])
    return None


def frame_id(frame: bytes) -> int | None:
    """The ``id:`` of an encoded frame, or ``None`` for a frame without one."""
    if not frame.startswith(b"id: "):
        return None
    return int(frame[4 : frame.index(b"\n")])


RETRY = b"retry: 3000\n\n"
PING = b": ping\n\n"


def encode(event: dict[str, Any]) -> bytes:
    """One SSE frame: an ``id:`` line when the event carries messages, then one ``data:`` line of JSON."""
    # JSON escapes every newline inside strings, so the data always fits on one line.
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    number = event_id(event)
    head = f"id: {number}\n" if number is not None else ""
    return f"{head}data: {data}\n\n".encode()
