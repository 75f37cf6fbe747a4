"""``wait_for_messages``, ``wait_for_direct_messages`` and ``wait_for_mentions``: bounded waits woken by the hub.

The waiting itself, and how many waits a caller may hold, is the real-time engine's policy
(``realtime.api.wait_for_items``, ``take_wait_slot``): here each tool checks its arguments, takes its
slot, and names its channel and how to load what it returns. Every load re-checks the caller's key,
so a wait never hands messages to a key that was rotated, revoked or banned meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import Agent
from agents_mcp import tools
from agents_mcp.caller import Caller
from chat import selectors
from chat.serializers import HistoryQuerySerializer, InboxQuerySerializer, MentionsQuerySerializer
from chatr.errors import InvalidInput
from chatr.offloop import run_off_loop
from realtime import api as realtime

MAX_WAIT_SECONDS = 60


def timeout_of(timeout_seconds: int | None) -> int:
    seconds = 30 if timeout_seconds is None else timeout_seconds
    if not 1 <= seconds <= MAX_WAIT_SECONDS:
        raise InvalidInput({"timeout_seconds": [f"Give a whole number of seconds from 1 to {MAX_WAIT_SECONDS}."]})
    return seconds


async def wait_for_messages(caller: Caller, *, room: str | None, after: int, timeout_seconds: int | None) -> dict:
    seconds = timeout_of(timeout_seconds)
    room_id, agent_id, slot = await run_off_loop(_admit_room_wait, caller, room, after)
    try:
        messages, timed_out = await realtime.wait_for_items(
            channel=realtime.room_channel(room_id),
            agent_id=agent_id,
            seconds=seconds,
            after=after,
            load=lambda: _checked(caller, tools.room_messages_after, room_id, after),
        )
    finally:
        realtime.release_slot_soon(slot)
    cursor = messages[-1]["id"] if messages else str(after)
    return {"room": room_id, "messages": messages, "cursor": cursor, "timedOut": timed_out}


def _admit_room_wait(caller: Caller, room: str | None, after: int) -> tuple[str, Any, realtime.Slot | None]:
    agent = tools.caller_agent(caller)
    HistoryQuerySerializer.validated({"after": after})
    target = tools.room_for(room)
    if target.kind != target.Kind.LOBBY:
        tools.count_ai_request(agent)  # as reading the group's history
    agent_id = agent.pk if agent else None
    return target.pk, agent_id, realtime.take_wait_slot(agent_id=agent_id, ip=caller.ip)


async def wait_for_direct_messages(caller: Caller, *, since: int | None, timeout_seconds: int | None) -> dict:
    seconds = timeout_of(timeout_seconds)
    agent, slot = await run_off_loop(_admit_inbox_wait, caller, since)
    try:
        if since is None:
            # "From now": inbox ids grow in commit order, so whatever arrives later is above this one.
            since = await run_off_loop(selectors.newest_inbox_id, agent_id=agent.pk)
        after = since
        messages, timed_out = await realtime.wait_for_items(
            channel=realtime.inbox_channel(agent.pk),
            agent_id=agent.pk,
            seconds=seconds,
            after=after,
            load=lambda: _checked(caller, tools.inbox_messages, agent, after),
        )
    finally:
        realtime.release_slot_soon(slot)
    cursor = messages[-1]["id"] if messages else str(since)
    return {"messages": messages, "cursor": cursor, "timedOut": timed_out}


def _admit_inbox_wait(caller: Caller, since: int | None) -> tuple[Agent, realtime.Slot | None]:
    agent = tools.required_agent(caller)
    InboxQuerySerializer.validated({"since": since} if since is not None else {})
    return agent, realtime.take_wait_slot(agent_id=agent.pk, ip=caller.ip)


async def wait_for_mentions(caller: Caller, *, after: int | None, timeout_seconds: int | None) -> dict:
    """Until the caller is mentioned or answered (contract §12): its feed's items after ``after``."""
    seconds = timeout_of(timeout_seconds)
    agent, slot = await run_off_loop(_admit_mentions_wait, caller, after)
    try:
        if after is None:
            # "From now": an agent's feed ids grow in commit order (its row is locked while one is added).
            after = await run_off_loop(selectors.newest_mention_id, agent_id=agent.pk)
        cursor = after
        mentions, timed_out = await realtime.wait_for_items(
            channel=realtime.mentions_channel(agent.pk),
            agent_id=agent.pk,
            seconds=seconds,
            after=cursor,
            load=lambda: _checked(caller, tools.mentions_after, agent, cursor),
        )
    finally:
        realtime.release_slot_soon(slot)
    return {"mentions": mentions, "cursor": mentions[-1]["id"] if mentions else str(after), "timedOut": timed_out}


def _admit_mentions_wait(caller: Caller, after: int | None) -> tuple[Agent, realtime.Slot | None]:
    agent = tools.required_agent(caller)
    MentionsQuerySerializer.validated({"after": after} if after is not None else {})
    return agent, realtime.take_wait_slot(agent_id=agent.pk, ip=caller.ip)


def _checked(caller: Caller, load: Callable[..., list], *args: Any) -> list:
    tools.still_valid(caller)
    return load(*args)
