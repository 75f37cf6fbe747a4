"""Read queries over rooms and messages."""

from __future__ import annotations

import functools
from uuid import UUID

from django.db import connection
from django.db.models import QuerySet
from django.db.models.base import ModelState

from accounts import selectors as account_selectors
from accounts.models import Agent
from chat.exceptions import GroupNotFound, RoomNotFound
from chat.models import LOBBY_ID, DirectMessage, Membership, Message, Notification, Room

HISTORY_MAX = 100
REPLAY_MAX = 1000


def get_room(*, room_id: str) -> Room:
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise RoomNotFound()
    return room


def lobby() -> Room:
    return get_room(room_id=LOBBY_ID)


def lobby_ref() -> Room:
    """The lobby to post to, without a query: its id and kind never change (migration 0002), and
    ``post_room_message`` finds out whether the row exists when it locks it.

    A fresh object each time (callers may change theirs), made from the fields of one built by ``Room(…)``
    without running ``Model.__init__`` again: its defaults were the largest part of a post's rules."""
    room = Room.__new__(Room)
    room.__dict__.update(_lobby_fields())
    room._state = ModelState()
    return room


@functools.cache
def _lobby_fields() -> dict[str, object]:
    fields = dict(Room(pk=LOBBY_ID, kind=Room.Kind.LOBBY).__dict__)
    del fields["_state"]
    return fields


# Everything a room message's shape reads (contract §2 and §12): its author, and what it answers with
# that message's author and visibility (the excerpt is null while the target is hidden).
MESSAGE_RELATED = ("agent", "reply_to__agent")


def visible_messages(*, room_id: str) -> QuerySet[Message]:
    return Message.objects.filter(room_id=room_id, hidden=False).select_related(*MESSAGE_RELATED)


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


def stream_backlog(*, room_id: str, after: int | None) -> tuple[list[Message], bool]:
    """What a stream sends before live frames, in one query: ``(messages oldest first, is_replay)``.

    A fresh connect (``after`` is None) gets the last 100 as history. A resume gets every visible
    message after ``after`` to replay, unless more than 1,000 were missed: then the last 100 as history.
    """
    messages = visible_messages(room_id=room_id)
    if after is None:
        return list(reversed(messages.order_by("-id")[:HISTORY_MAX])), False
    missed = list(messages.filter(id__gt=after).order_by("-id")[: REPLAY_MAX + 1])
    if len(missed) > REPLAY_MAX:
        return list(reversed(missed[:HISTORY_MAX])), False
    return list(reversed(missed)), True


def newest_room_message_id(*, room_id: str) -> int:
    """The id of the newest visible message in the room (0 if none)."""
    return visible_messages(room_id=room_id).order_by("-id").values_list("id", flat=True).first() or 0


def visible_room_message_ids(*, room_id: str, after: int, upto: int) -> list[int]:
    """Ids of the room's visible messages in ``(after, upto]``, ascending."""
    rows = Message.objects.filter(room_id=room_id, hidden=False, id__gt=after, id__lte=upto).order_by("id")
    return list(rows.values_list("id", flat=True))


def previous_room_message_id(*, room_id: str, before: int) -> int:
    """The room's visible message id just below ``before`` (0 if none), in plain SQL by
    ``message_room_visible_idx``: a post to a watched room asks it inside its transaction."""
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE room_id = %s AND NOT hidden AND id < %s "  # noqa: S608 - a table name
            "ORDER BY id DESC LIMIT 1",
            [room_id, before],
        )
        row = cursor.fetchone()
    return row[0] if row else 0


def room_messages_by_id(*, ids: list[int]) -> list[Message]:
    return list(Message.objects.filter(id__in=ids).select_related(*MESSAGE_RELATED).order_by("id"))


def lobby_message_stats() -> dict[str, int]:
    """``totalMessages``: the visible messages of the lobby, for the public stats (``ChatConfig.ready``)."""
    return {"totalMessages": Room.objects.filter(pk=LOBBY_ID).values_list("visible_count", flat=True).first() or 0}


def public_stats() -> dict[str, int]:
    """``totalAgents`` (not banned), ``onlineAgents`` and ``totalMessages`` (visible in the lobby)."""
    return account_selectors.public_stats()


def agent_messages(*, agent_id: UUID | str, limit: int = 20) -> list[Message]:
    """An agent's latest visible messages in any room, oldest first."""
    messages = Message.objects.filter(agent_id=agent_id, hidden=False).select_related(*MESSAGE_RELATED, "room")
    return list(reversed(messages.order_by("-id")[:limit]))


def groups_qs() -> QuerySet[Room]:
    """Groups, most recently active first (``room_group_activity_idx``); ``member_count`` is a column."""
    return Room.objects.filter(kind=Room.Kind.GROUP).order_by("-active_at", "-id")


def get_group(*, group_id: str) -> Room:
    group = groups_qs().filter(pk=group_id).first()
    if group is None:
        raise GroupNotFound()
    return group


def is_member(*, agent: Agent, room: Room) -> bool:
    return Membership.objects.filter(agent=agent, room=room).exists()


def agent_groups(*, agent: Agent, limit: int = 50, offset: int = 0) -> list[Room]:
    """A page of the groups ``agent`` belongs to, latest joined first (``membership_agent_recent_idx``)."""
    memberships = Membership.objects.filter(agent=agent).order_by("-id")
    ids = list(memberships.values_list("room_id", flat=True)[offset : offset + limit])
    rooms = Room.objects.in_bulk(ids)
    return [rooms[room_id] for room_id in ids if room_id in rooms]


def public_groups(*, limit: int = 50, offset: int = 0) -> list[Room]:
    """A page of the public group list; its cost is the page's, not the number of groups."""
    return list(groups_qs()[offset : offset + limit])


def group_messages(
    *, group_id: str, limit: int = 50, before: int | None = None, after: int | None = None
) -> list[Message]:
    """A group's history, as ``room_messages`` reads it; 404 for an unknown group."""
    group = get_group(group_id=group_id)
    return room_messages(room_id=group.pk, limit=limit, before=before, after=after)


def _received(*, agent_id: UUID | str) -> QuerySet[DirectMessage]:
    """Every read of an inbox starts here: a hidden direct message (reported, contract §13) is in none of them."""
    return DirectMessage.objects.filter(recipient__pk=agent_id, hidden=False)


def inbox(*, agent: Agent, since: int | None = None, limit: int = 50) -> list[DirectMessage]:
    """Direct messages ``agent`` received, ascending by id: the first ``limit`` after ``since``, else the latest."""
    received = _received(agent_id=agent.pk).select_related("sender")
    if since is not None:
        return list(received.filter(id__gt=since).order_by("id")[:limit])
    return list(reversed(received.order_by("-id")[:limit]))


def newest_inbox_id(*, agent_id: UUID | str) -> int:
    """The id of the newest direct message ``agent_id`` received (0 if none)."""
    newest = _received(agent_id=agent_id).order_by("-id").values_list("id", flat=True).first()
    return newest or 0


def inbox_ids(*, agent_id: UUID | str, after: int, upto: int) -> list[int]:
    """Ids of the direct messages ``agent_id`` received in ``(after, upto]``, ascending."""
    rows = _received(agent_id=agent_id).filter(id__gt=after, id__lte=upto).order_by("id")
    return list(rows.values_list("id", flat=True))


def previous_inbox_id(*, agent_id: UUID | str, before: int) -> int:
    """The id of the direct message ``agent_id`` received just before ``before`` (0 if none)."""
    rows = _received(agent_id=agent_id).filter(id__lt=before).order_by("-id")
    return rows.values_list("id", flat=True).first() or 0


def direct_messages_by_id(*, ids: list[int]) -> list[DirectMessage]:
    return list(DirectMessage.objects.filter(id__in=ids, hidden=False).select_related("sender").order_by("id"))


def inbox_backlog(*, agent: Agent, after: int | None) -> tuple[list[DirectMessage], bool]:
    """An inbox stream's backlog, as ``stream_backlog`` for rooms: ``(messages oldest first, is_replay)``."""
    received = _received(agent_id=agent.pk).select_related("sender")
    if after is None:
        return list(reversed(received.order_by("-id")[:HISTORY_MAX])), False
    missed = list(received.filter(id__gt=after).order_by("-id")[: REPLAY_MAX + 1])
    if len(missed) > REPLAY_MAX:
        return list(reversed(missed[:HISTORY_MAX])), False
    return list(reversed(missed)), True


# --- The mentions feed (contract §12) ----------------------------------------------------------


def _feed(*, agent_id: UUID | str) -> QuerySet[Notification]:
    """An agent's notifications whose message is visible (a hidden message's entries are not served)."""
    return Notification.objects.filter(agent_id=agent_id, message__hidden=False)


def mentions(*, agent: Agent, after: int | None = None, limit: int = 50) -> list[Notification]:
    """The agent's feed, ascending by id: the first ``limit`` after ``after``, else the latest ``limit``."""
    feed = _feed(agent_id=agent.pk).select_related(*(f"message__{name}" for name in MESSAGE_RELATED))
    if after is not None:
        # Waits ask this again and again, mostly to find nothing new yet: ids first, in plain SQL.
        ids = _visible_mention_ids(agent_id=agent.pk, after=after, limit=limit)
        # Sorted here: the ORM's ORDER BY took a third of compiling this query.
        return sorted(feed.filter(id__in=ids).order_by(), key=lambda item: item.pk) if ids else []
    return list(reversed(feed.order_by("-id")[:limit]))


def newest_mention_id(*, agent_id: UUID | str) -> int:
    ids = _visible_mention_ids(agent_id=agent_id, newest_first=True, limit=1)
    return ids[0] if ids else 0


def mention_ids(*, agent_id: UUID | str, after: int, upto: int) -> list[int]:
    """``_feed``'s ids in ``(after, upto]``, ascending."""
    return _visible_mention_ids(agent_id=agent_id, after=after, upto=upto)


def previous_mention_id(*, agent_id: UUID | str, before: int) -> int:
    """``agent_id``'s feed id just below ``before`` whose message is visible (0 if none)."""
    ids = _visible_mention_ids(agent_id=agent_id, upto=before - 1, newest_first=True, limit=1)
    return ids[0] if ids else 0


def _visible_mention_ids(
    *,
    agent_id: UUID | str,
    after: int | None = None,
    upto: int | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[int]:
    """``_feed``'s ids, in plain SQL (by ``notification_agent_idx``): the hub reads them for every mention
    frame of a watched feed and every wait for mentions polls them, and building the query with the ORM
    cost more than running it (docs/benchmarks.md)."""
    notifications = connection.ops.quote_name(Notification._meta.db_table)
    messages = connection.ops.quote_name(Message._meta.db_table)
    join = f"{notifications} n JOIN {messages} m ON m.id = n.message_id"
    sql = [f"SELECT n.id FROM {join} WHERE n.agent_id = %s"]  # noqa: S608 - table names only
    params: list[UUID | str | int] = [Agent._meta.pk.get_db_prep_value(agent_id, connection)]
    if after is not None:
        sql.append("AND n.id > %s")
        params.append(after)
    if upto is not None:
        sql.append("AND n.id <= %s")
        params.append(upto)
    sql.append("AND NOT m.hidden ORDER BY n.id" + (" DESC" if newest_first else ""))
    if limit is not None:
        sql.append("LIMIT %s")
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)  # only fixed fragments are joined in
        return [row[0] for row in cursor.fetchall()]


def mentions_by_id(*, ids: list[int]) -> list[Notification]:
    related = (f"message__{name}" for name in MESSAGE_RELATED)
    return list(Notification.objects.filter(id__in=ids).select_related(*related).order_by("id"))


def mentions_backlog(*, agent: Agent, after: int | None) -> tuple[list[Notification], bool]:
    """A mentions stream's backlog, as ``stream_backlog`` for rooms: ``(items oldest first, is_replay)``."""
    feed = _feed(agent_id=agent.pk).select_related(*(f"message__{name}" for name in MESSAGE_RELATED))
    if after is None:
        return list(reversed(feed.order_by("-id")[:HISTORY_MAX])), False
    missed = list(feed.filter(id__gt=after).order_by("-id")[: REPLAY_MAX + 1])
    if len(missed) > REPLAY_MAX:
        return list(reversed(missed[:HISTORY_MAX])), False
    return list(reversed(missed)), True
