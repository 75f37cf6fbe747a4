"""The real-time engine as the rest of chatr sees it: the one module apps import from ``realtime``.

Publish (services only, after commit), subscribe (streams and waits), end an agent's streams when its
key stops working, register the database log behind a kind of channel, hold a stream or wait slot,
and read or bump the versions that keep ready-made answers exact (``versions``). Which store carries
all this — this process alone, or Redis shared by every process — is chosen once in the settings
(``CHATR_REALTIME_BACKEND``); nothing here asks.
"""

from __future__ import annotations

from chatr.offloop import run_off_loop
from realtime import versions
from realtime.feeds import Feed, visible_in_transaction
from realtime.feeds import register as register_feed
from realtime.frames import PING, RETRY, encode, event_id, frame_id
from realtime.hub import (
    Overflow,
    Subscription,
    after_id_in_transaction,
    after_in_transaction,
    announce,
    attach,
    channel_count,
    end_agent_streams,
    end_agent_streams_on_commit,
    publish,
    publish_on_commit,
    spawn,
    subscribe,
    subscriber_count,
    subscriptions,
    unsubscribe,
    watched,
)
from realtime.slots import Slot
from realtime.slots import count as count_streams
from realtime.slots import release as release_slot
from realtime.slots import take as take_stream_slot
from realtime.waits import TooManyWaits, take_wait_slot, wait_for_items

__all__ = [
    "PING",
    "RETRY",
    "Feed",
    "Overflow",
    "Slot",
    "Subscription",
    "TooManyWaits",
    "after_id_in_transaction",
    "after_in_transaction",
    "announce",
    "attach",
    "channel_count",
    "count_streams",
    "encode",
    "end_agent_streams",
    "end_agent_streams_on_commit",
    "event_id",
    "frame_id",
    "inbox_channel",
    "mentions_channel",
    "publish",
    "publish_on_commit",
    "register_feed",
    "release_slot",
    "release_slot_soon",
    "room_channel",
    "spawn",
    "subscribe",
    "subscriber_count",
    "subscriptions",
    "take_stream_slot",
    "take_wait_slot",
    "unsubscribe",
    "versions",
    "visible_in_transaction",
    "wait_for_items",
    "watched",
]


def room_channel(room_id: object) -> str:
    """A room's stream (the lobby is ``room:lobby``): its messages, deletes, and in the lobby presence."""
    return f"room:{room_id}"


def inbox_channel(agent_id: object) -> str:
    """An agent's direct messages."""
    return f"inbox:{agent_id}"


def mentions_channel(agent_id: object) -> str:
    """An agent's mentions and replies feed."""
    return f"mentions:{agent_id}"


def release_slot_soon(slot: Slot | None) -> None:
    """Give ``slot`` back off the loop, from the loop, without waiting (a no-op for ``None``)."""
    if slot is not None:
        spawn(run_off_loop(release_slot, slot))
