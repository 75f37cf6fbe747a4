"""Versions of what readers see, so that ready-made answers are served only while they are exact.

Every change a reader could see bumps the version of its *scope* after commit and before the writer
answers: ``room:<id>`` (a message posted, hidden or restored in that room), ``agent:<id>`` (anything
stored on one agent, its key included), ``agents`` (anything shown of an agent: registration,
presence, profile, badge, ban, key), ``moderated:<id>`` (a message of that room hidden or restored: what a
reply target's check reads), ``members:<id>`` (the group's row or its memberships: who may post to it),
``webhooks`` (an endpoint created, deleted, enabled or disabled) and ``presence``. A cached answer is stored
with the versions read *before* it was rendered and served only while those versions are still current, so a
request that starts after a writer's answer can never be served the state before it.

The backend keeps the versions: counters in this process, or tokens in Redis shared by every process.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from realtime import backends
from realtime.backends.base import Version

__all__ = [
    "AGENTS",
    "PRESENCE",
    "WEBHOOKS",
    "Version",
    "acurrent",
    "agent",
    "changed",
    "changed_on_commit",
    "current",
    "members",
    "moderated",
    "room",
]

AGENTS = "agents"  # what messages and profiles show of any agent: name, avatar, badge, key, ban
PRESENCE = "presence"  # who is online, lastSeen, the agent counts
WEBHOOKS = "webhooks"  # which agents have an enabled webhook endpoint


def room(room_id: object) -> str:
    return f"room:{room_id}"


def moderated(room_id: object) -> str:
    """A message of the room hidden or restored (a subset of ``room``'s changes, which every post bumps)."""
    return f"moderated:{room_id}"


def members(room_id: object) -> str:
    """The group's row or its memberships changed (not bumped by posts, unlike ``room``)."""
    return f"members:{room_id}"


def agent(agent_id: object) -> str:
    """Anything stored on one agent (its key included): what the in-process key cache checks."""
    return f"agent:{agent_id}"


def changed_on_commit(*scopes: str) -> None:
    """Bump ``scopes`` now and again once the current transaction commits.

    The bump after commit is the one that counts: an answer rendered before it may hold the state
    before the commit. The bump now makes no difference to that (an answer rendered between the two
    is invalidated by the second), but it keeps a change visible to code that never commits — a test
    inside a transaction that is rolled back.
    """
    changed(*scopes)
    transaction.on_commit(lambda: changed(*scopes))


def changed(*scopes: str) -> None:
    """Bump ``scopes`` now: every answer cached under their old versions stops being served."""
    backends.current().bump(scopes)


def current(scopes: Sequence[str]) -> Version:
    """The versions of ``scopes`` now, from any thread."""
    return backends.current().versions(scopes)


async def acurrent(scopes: Sequence[str]) -> Version:
    """``current`` for the event loop: in process a dict lookup, with Redis one ``MGET`` that blocks no thread."""
    return await backends.current().aversions(scopes)
