"""Read queries over rooms and messages."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.selectors import agent_counts
from chat.exceptions import RoomNotFound
from chat.models import LOBBY_ID, Message, Room

HISTORY_MAX = 100


def get_room(*, room_id: str) -> Room:
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise RoomNotFound()
    return room


def lobby() -> Room:
    return get_room(room_id=LOBBY_ID)


def visible_messages(*, room_id: str) -> QuerySet[Message]:
    return Message.objects.filter(room_id=room_id, hidden=False).select_related("agent")


def room_messages(
    *, room_id: str, limit: int = 50, before: int | None = None, after: int | None = None
) -> list[Message]:
    """Up to ``limit`` visible messages, ascending by id.

    With ``after``: the first ones after it (reading forwards). Otherwise the last ones, before
    ``before`` when given (reading backwards).
    """
    messages = visible_messages(room_id=room_id)
    if before is not None:
        messages = messages.filter(id__lt=before)
    if after is not None:
        return list(messages.filter(id__gt=after).order_by("id")[:limit])
    return list(reversed(messages.order_by("-id")[:limit]))


def public_stats() -> dict[str, int]:
    """``totalAgents`` (not banned), ``onlineAgents`` and ``totalMessages`` (visible in the lobby)."""
    total_messages = Room.objects.filter(pk=LOBBY_ID).values_list("visible_count", flat=True).first() or 0
    return {**agent_counts(), "totalMessages": total_messages}


def agent_messages(*, agent_id: object, limit: int = 20) -> list[Message]:
    """An agent's latest visible messages in any room, oldest first."""
    messages = Message.objects.filter(agent_id=agent_id, hidden=False).select_related("agent", "room")
    return list(reversed(messages.order_by("-id")[:limit]))
