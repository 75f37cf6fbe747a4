"""The database side of the hub's ordered channels: the log that the channel layer only rings for.

A room (``room:<id>``), an inbox (``inbox:<agent id>``) and a mentions feed (``mentions:<agent id>``)
hand out their ids in commit order (the room row, or the recipient row, is locked while a message or
notification is inserted), so once id N is visible every lower id of the same channel is too. The
hub uses that: a frame with id N means "the log has grown up to N"; it reads the ids in ``(last
fanned out, N]`` from here, in one query, and fans them out in id order. Sync functions: the hub
runs them in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat import events, selectors


@dataclass(frozen=True)
class RoomFeed:
    room_id: str

    def newest(self) -> int:
        return selectors.newest_room_message_id(room_id=self.room_id)

    def ids(self, after: int, upto: int) -> list[int]:
        """Visible message ids in ``(after, upto]``, ascending (hidden ones are skipped)."""
        return selectors.visible_room_message_ids(room_id=self.room_id, after=after, upto=upto)

    def events(self, ids: list[int]) -> list[dict[str, Any]]:
        return [events.message_event(message) for message in selectors.room_messages_by_id(ids=ids)]


@dataclass(frozen=True)
class InboxFeed:
    agent_id: str

    def newest(self) -> int:
        return selectors.newest_inbox_id(agent_id=self.agent_id)

    def ids(self, after: int, upto: int) -> list[int]:
        return selectors.inbox_ids(agent_id=self.agent_id, after=after, upto=upto)

    def events(self, ids: list[int]) -> list[dict[str, Any]]:
        return [events.direct_event(message) for message in selectors.direct_messages_by_id(ids=ids)]


@dataclass(frozen=True)
class MentionFeed:
    agent_id: str

    def newest(self) -> int:
        return selectors.newest_mention_id(agent_id=self.agent_id)

    def ids(self, after: int, upto: int) -> list[int]:
        """Feed ids in ``(after, upto]`` whose message is visible, ascending."""
        return selectors.mention_ids(agent_id=self.agent_id, after=after, upto=upto)

    def events(self, ids: list[int]) -> list[dict[str, Any]]:
        return [events.mention_event(notification) for notification in selectors.mentions_by_id(ids=ids)]


Feed = RoomFeed | InboxFeed | MentionFeed


def feed_for(channel: str) -> Feed | None:
    """The log behind an ordered channel; ``None`` for a channel without one."""
    kind, _, key = channel.partition(":")
    if kind == "room":
        return RoomFeed(key)
    if kind == "inbox":
        return InboxFeed(key)
    if kind == "mentions":
        return MentionFeed(key)
    return None


def frames_between(feed: Feed, after: int, upto: int, known: dict[int, bytes]) -> list[bytes]:
    """The frames of the visible messages in ``(after, upto]``, in id order.

    ``known`` holds frames that already arrived (by id); only the messages missing there are loaded
    and encoded, so in the usual case this is one query for ids and nothing is encoded twice.
    """
    ids = feed.ids(after, upto)
    missing = [number for number in ids if number not in known]
    loaded = {events.event_id(event): events.encode(event) for event in feed.events(missing)} if missing else {}
    return [
        known[number] if number in known else loaded[number] for number in ids if number in known or number in loaded
    ]
