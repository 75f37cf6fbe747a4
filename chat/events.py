"""Every chat event that leaves the server on a stream is built here (contract §5).

An event is a dict ``{"type": ..., "data": ...}``; the real-time engine encodes it to an SSE frame
(``realtime.api.encode``), with an ``id:`` line for the events that carry messages. Presence frames
are built by accounts (``accounts.presence``), which owns presence.
"""

from __future__ import annotations

from typing import Any

from chat.models import DirectMessage, Message, Notification
from chat.serializers import inbox_message_data, room_message_data


def message_data(message: Message) -> dict[str, Any]:
    """The room message shape (contract §2), built once per message object: the frame and the
    POST's answer share it."""
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
    return {"type": "direct", "data": inbox_message_data(message)}


def inbox_history_event(messages: list[DirectMessage]) -> dict[str, Any]:
    """The first frame of a fresh inbox stream: the latest received direct messages, oldest first."""
    return {"type": "history", "data": [inbox_message_data(message) for message in messages]}


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


def held_decided_event(notice: dict[str, Any]) -> dict[str, Any]:
    """On the author's inbox stream: a moderator decided on its held post (contract §13); no ``id:`` line."""
    return {"type": "held_decided", "data": notice}


def stats_event(stats: dict[str, int]) -> dict[str, Any]:
    return {"type": "stats", "data": stats}
