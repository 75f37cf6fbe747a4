"""Chat's ordered channels for the real-time engine: the logs that its doorbells only ring for.

A room (``room:<id>``), an inbox (``inbox:<agent id>``) and a mentions feed (``mentions:<agent id>``)
hand out their ids in commit order (the room row, or the recipient row, is locked while a message or
notification is inserted), so once id N is visible every lower id of the same channel is too. The
hub uses that (``realtime.feeds``): a frame with id N means "the log has grown up to N"; it reads the
ids in ``(last fanned out, N]`` from here, in one query, and fans them out in id order. Sync
functions: the hub runs them off the event loop. ``register`` hands them to the engine at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat import events, selectors
from realtime import api as realtime


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

    def previous(self, before: int) -> int:
        return selectors.previous_room_message_id(room_id=self.room_id, before=before)


@dataclass(frozen=True)
class InboxFeed:
    agent_id: str

    def newest(self) -> int:
        return selectors.newest_inbox_id(agent_id=self.agent_id)

    def ids(self, after: int, upto: int) -> list[int]:
        return selectors.inbox_ids(agent_id=self.agent_id, after=after, upto=upto)

    def events(self, ids: list[int]) -> list[dict[str, Any]]:
        return [events.direct_event(message) for message in selectors.direct_messages_by_id(ids=ids)]

    def previous(self, before: int) -> int:
        return selectors.previous_inbox_id(agent_id=self.agent_id, before=before)


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

    def previous(self, before: int) -> int:
        return selectors.previous_mention_id(agent_id=self.agent_id, before=before)


def register() -> None:
    """Make rooms, inboxes and mentions feeds ordered channels of the engine (``ChatConfig.ready``)."""
    realtime.register_feed("room", RoomFeed)
    realtime.register_feed("inbox", InboxFeed)
    realtime.register_feed("mentions", MentionFeed)
