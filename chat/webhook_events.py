"""What chat tells webhooks (contract §7, §12): who receives a message or a mention, and the body POSTed.

Chat decides the recipients and the payload; ``webhooks.services.enqueue_deliveries`` only writes
the outbox rows for them, inside the message's transaction, and knows nothing of messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chat.models import DirectMessage, Membership, Message, Room
from webhooks import services as webhook_services
from webhooks.models import Delivery


def enqueue_message_deliveries(*, message: Message | DirectMessage) -> list[Delivery]:
    """The webhook deliveries a new message causes (contract §7); call inside the message's transaction.

    A direct message goes to its recipient; a group message to every member but its sender; the
    lobby has no webhooks.
    """
    if isinstance(message, DirectMessage):
        payload = message_payload(
            message_id=message.pk, sender_id=message.sender_id, content=message.content, sent_at=message.created_at
        )
        return webhook_services.enqueue_deliveries(agent_ids=[message.recipient_id], payload=payload)
    if message.room.kind != Room.Kind.GROUP:
        return []
    payload = message_payload(
        message_id=message.pk,
        sender_id=message.agent_id,
        content=message.content,
        sent_at=message.created_at,
        group_id=message.room_id,
    )
    members = Membership.objects.filter(room_id=message.room_id).exclude(agent_id=message.agent_id)
    return webhook_services.enqueue_deliveries(agent_ids=members.values("agent_id"), payload=payload)


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
