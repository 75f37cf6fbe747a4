"""The database logs behind ordered channels, registered by the apps that own them.

A channel ``<kind>:<key>`` is ordered when an app registered a feed for ``<kind>``: its ids are handed
out in commit order, so once id N is visible every lower id of the channel is too. The hub uses that:
a frame with id N means "the log has grown up to N"; it reads the ids in ``(last fanned out, N]``
from the feed, in one query, and fans them out in id order. Feeds are sync: the hub runs them off
the event loop. The engine knows no app: chat registers its rooms, inboxes and mentions in its
``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from realtime import frames


class Feed(Protocol):
    """One channel's log in the database."""

    def newest(self) -> int:
        """The highest id of the log now (0 when empty)."""

    def ids(self, after: int, upto: int) -> list[int]:
        """The ids in ``(after, upto]`` a viewer may see, ascending."""

    def events(self, ids: list[int]) -> list[dict[str, Any]]:
        """The events of these ids, each carrying its id (``frames.event_id``)."""


_factories: dict[str, Callable[[str], Feed]] = {}


def register(kind: str, factory: Callable[[str], Feed]) -> None:
    """Make ``<kind>:<key>`` channels ordered: ``factory(key)`` is the feed of one of them."""
    _factories[kind] = factory


def feed_for(channel: str) -> Feed | None:
    """The log behind an ordered channel; ``None`` for a channel without one."""
    kind, _, key = channel.partition(":")
    factory = _factories.get(kind)
    return None if factory is None else factory(key)


def frames_between(feed: Feed, after: int, upto: int, known: dict[int, bytes]) -> list[bytes]:
    """The frames of the visible items in ``(after, upto]``, in id order.

    ``known`` holds frames that already arrived (by id); only the items missing there are loaded
    and encoded, so in the usual case this is one query for ids and nothing is encoded twice.
    """
    ids = feed.ids(after, upto)
    missing = [number for number in ids if number not in known]
    loaded = {frames.event_id(event): frames.encode(event) for event in feed.events(missing)} if missing else {}
    return [
        known[number] if number in known else loaded[number] for number in ids if number in known or number in loaded
    ]
