"""What chat tells webhooks (contract §7, §12): who receives a message or a mention, and the body POSTed.

Chat decides the recipients and the payload; ``webhooks.services.enqueue_deliveries`` only writes
the outbox rows for them, inside the message's transaction, and knows nothing of messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chat.models import DirectMessage, Membership, Message, Room
from webhooks import services as webhook_services
from webhooks.models import Delivery


def enqueue_message_deliveries(*, message: Message | DirectMessage) -> list[Delivery]:
    """The webhook deliveries a new message causes (contract §7); call inside the message's transaction."""
    return enqueue_batch_deliveries(messages=[message])


def enqueue_batch_deliveries(*, messages: Sequence[Message | DirectMessage]) -> list[Delivery]:
    """The webhook deliveries of the new messages of one transaction, in their order (contract §7).

    A direct message goes to its recipient; a group message to every member but its sender; the
    lobby has no webhooks. The members who may receive one (those with an enabled endpoint) are one query for
    the whole batch, and none when no agent has an enabled endpoint (``webhook_services.subscribed_agents``).
    A batch of lobby messages asks nothing, not even which agents have an endpoint (with Redis, a round trip
    while the writer holds the lobby's lock).
    """
    groups = {message.room_id for message in messages if isinstance(message, Message) and _in_group(message)}
    if not groups and not any(isinstance(message, DirectMessage) for message in messages):
        return []
    hooked = webhook_services.subscribed_agents()
    if not hooked:
        return []
    members: dict[str, list[Any]] = {room_id: [] for room_id in groups}
    if groups:
        hooked_members = Membership.objects.filter(room_id__in=groups, agent__webhook__enabled=True)
        for room_id, agent_id in hooked_members.order_by("pk").values_list("room_id", "agent_id"):
            members[room_id].append(agent_id)
    items: list[tuple[list[Any], dict[str, Any]]] = []
    for message in messages:
        if isinstance(message, DirectMessage):
            payload = message_payload(
                message_id=message.pk, sender_id=message.sender_id, content=message.content, sent_at=message.created_at
            )
            items.append(([message.recipient_id], payload))
        elif message.room_id in members:
            recipients = [agent_id for agent_id in members[message.room_id] if agent_id != message.agent_id]
            if recipients:
                payload = message_payload(
                    message_id=message.pk,
                    sender_id=message.agent_id,
                    content=message.content,
                    sent_at=message.created_at,
                    group_id=message.room_id,
                )
                items.append((recipients, payload))
    return webhook_services.enqueue_deliveries_many(items)


def _in_group(message: Message) -> bool:
    return message.room.kind == Room.Kind.GROUP


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
