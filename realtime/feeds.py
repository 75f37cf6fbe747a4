"""The database logs behind ordered channels, registered by the apps that own them.

A channel ``<kind>:<key>`` is ordered when an app registered a feed for ``<kind>``: its ids are handed
out in commit order, so once id N is visible every lower id of the channel is too. The hub uses that:
a frame with id N means "the log has grown up to N"; it reads the ids in ``(last fanned out, N]``
from the feed, in one query, and fans them out in id order — unless the frame says it follows what
went out without a gap: a publisher inside the transaction that commits an item reads the visible id
before it (``previous``, ``previous_in_transaction``), and the hub fans a frame whose previous id it
already fanned out straight away. Feeds are sync: the hub runs them off the event loop. The engine
knows no app: chat registers its rooms, inboxes and mentions in its ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from django.db import connection

from realtime import frames


class Feed(Protocol):
    """One channel's log in the database."""

    def newest(self) -> int:
        """The highest id of the log now (0 when empty)."""

    def ids(self, after: int, upto: int) -> list[int]:
        """The ids in ``(after, upto]`` a viewer may see, ascending."""

    def events(self, ids: list[int]) -> list[dict[str, Any]]:
        """The events of these ids, each carrying its id (``frames.event_id``)."""

    def previous(self, before: int) -> int:
        """The highest visible id below ``before`` (0 when none)."""


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


def previous_in_transaction(channel: str, number: int) -> int | None:
    """The visible id of ``channel`` before ``number``, read in the transaction that is about to commit it.

    Called by a publisher after it stored item ``number`` and before it commits: the channel's ids are
    locked until then (each feed's writer locks its room or recipient row), so nothing can come in
    between, and the answer holds at commit. ``None`` for a channel without a feed.

    Within one transaction the answer for the next item of the same channel is the item before it
    (a batch of posts to one room pays one query, not one per post). The memo lives as long as the
    transaction's list of commit hooks: Django replaces that list at every commit and rollback (also
    of a savepoint), so a memo can never outlive the transaction that wrote it.
    """
    feed = feed_for(channel)
    if feed is None:
        return None
    memo = _tails()
    tail = memo.get(channel) if memo is not None else None
    previous = tail if tail is not None and tail < number else feed.previous(number)
    if memo is not None:
        memo[channel] = number
    return previous


def visible_in_transaction(channel: str, tail: int) -> None:
    """``channel``'s highest visible id (0: none), read in the transaction after its publisher locked the channel's
    ids and before it stored any: the first new item's previous id, so ``previous_in_transaction`` asks no query.
    For a publisher that reads it in a statement it runs anyway. Outside a transaction there is nothing to keep."""
    memo = _tails()
    if memo is not None and channel not in memo:
        memo[channel] = tail


def _tails() -> dict[str, int] | None:
    """The current transaction's memo of each channel's last id (``None`` outside a transaction)."""
    if not connection.in_atomic_block:
        return None
    hooks = connection.run_on_commit
    kept = getattr(connection, "chatr_channel_tails", None)
    if kept is not None and kept[0] is hooks:
        return cast(dict[str, int], kept[1])
    memo: dict[str, int] = {}
    connection.chatr_channel_tails = (hooks, memo)  # type: ignore[attr-defined]
    return memo
