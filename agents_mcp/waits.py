"""``wait_for_messages``, ``wait_for_direct_messages`` and ``wait_for_mentions``: bounded waits woken by the hub.

A wait subscribes to its channel first, then asks the database for messages after the cursor (so a
message committed in between is found either way), and if there are none awaits the subscription's
next frame that carries an id — no database connection, no thread, no polling while it waits. Once
woken it asks the database again, in one call that also re-checks the caller's key, so a wait never
hands messages to a key that was rotated, revoked or banned meanwhile. The hub ends a subscription
early (``Overflow``) when its channel lost track, or its agent's key stopped working: the wait then
re-checks the key and resubscribes, or ends with the error.

Concurrent waits are capped like streams: per agent (``CHATR_MCP_WAITS_PER_AGENT``), and without a key
they take one of the client IP's stream slots (contract §8: 10 at once). 429 ``too_many_waits`` beyond.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.models import Agent
from agents_mcp import tools
from agents_mcp.caller import Caller
from chat import events, hub, selectors, stream_slots
from chat.serializers import HistoryQuerySerializer, InboxQuerySerializer, MentionsQuerySerializer
from chatr.errors import ChatrError, InvalidInput, is_outage

logger = logging.getLogger("chatr.mcp")

MAX_WAIT_SECONDS = 60


class TooManyWaits(ChatrError):
    status_code = 429
    code = "too_many_waits"

    def __init__(self, limit: int, *, per_agent: bool) -> None:
        who = "one agent" if per_agent else "one address without a key (open streams count too)"
        super().__init__(
            f"At most {limit} waits may be open at once for {who}; let one finish first.", extra={"retry_after": 5}
        )


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run sync Django code in the shared pool and give its database connection back straight after."""
    return await sync_to_async(_closing, thread_sensitive=False)(function, *args, **kwargs)


def _closing(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    finally:
        hub.give_back_connection()


def timeout_of(timeout_seconds: int | None) -> int:
    seconds = 30 if timeout_seconds is None else timeout_seconds
    if not 1 <= seconds <= MAX_WAIT_SECONDS:
        raise InvalidInput({"timeout_seconds": [f"Give a whole number of seconds from 1 to {MAX_WAIT_SECONDS}."]})
    return seconds


async def wait_for_messages(caller: Caller, *, room: str | None, after: int, timeout_seconds: int | None) -> dict:
    seconds = timeout_of(timeout_seconds)
    room_id, agent_id, slot = await in_thread(_admit_room_wait, caller, room, after, seconds)
    try:
        messages, timed_out = await _wait(
            channel=hub.room_channel(room_id),
            agent_id=agent_id,
            seconds=seconds,
            after=after,
            load=lambda: _checked(caller, tools.room_messages_after, room_id, after),
        )
    finally:
        _release(slot)
    cursor = messages[-1]["id"] if messages else str(after)
    return {"room": room_id, "messages": messages, "cursor": cursor, "timedOut": timed_out}


def _admit_room_wait(caller: Caller, room: str | None, after: int, seconds: int) -> tuple[str, Any, Any]:
    agent = tools.caller_agent(caller)
    HistoryQuerySerializer.validated({"after": after})
    target = tools.room_for(room)
    if target.kind != target.Kind.LOBBY:
        tools.count_ai_request(agent)  # as reading the group's history
    return target.pk, agent.pk if agent else None, _take_slot(caller, agent, seconds)


async def wait_for_direct_messages(caller: Caller, *, since: int | None, timeout_seconds: int | None) -> dict:
    seconds = timeout_of(timeout_seconds)
    agent, slot = await in_thread(_admit_inbox_wait, caller, since, seconds)
    channel = hub.inbox_channel(agent.pk)
    try:
        if since is None:
            # "From now": inbox ids grow in commit order, so whatever arrives later is above this one.
            since = await in_thread(selectors.newest_inbox_id, agent_id=agent.pk)
        after = since
        messages, timed_out = await _wait(
            channel=channel,
            agent_id=agent.pk,
            seconds=seconds,
            after=after,
            load=lambda: _checked(caller, tools.inbox_messages, agent, after),
        )
    finally:
        _release(slot)
    cursor = messages[-1]["id"] if messages else str(since)
    return {"messages": messages, "cursor": cursor, "timedOut": timed_out}


def _admit_inbox_wait(caller: Caller, since: int | None, seconds: int) -> tuple[Agent, Any]:
    agent = tools.required_agent(caller)
    InboxQuerySerializer.validated({"since": since} if since is not None else {})
    return agent, _take_slot(caller, agent, seconds)


async def wait_for_mentions(caller: Caller, *, after: int | None, timeout_seconds: int | None) -> dict:
    """Until the caller is mentioned or answered (contract §12): its feed's items after ``after``."""
    seconds = timeout_of(timeout_seconds)
    agent, slot = await in_thread(_admit_mentions_wait, caller, after, seconds)
    try:
        if after is None:
            # "From now": an agent's feed ids grow in commit order (its row is locked while one is added).
            after = await in_thread(selectors.newest_mention_id, agent_id=agent.pk)
        cursor = after
        mentions, timed_out = await _wait(
            channel=hub.mentions_channel(agent.pk),
            agent_id=agent.pk,
            seconds=seconds,
            after=cursor,
            load=lambda: _checked(caller, tools.mentions_after, agent, cursor),
        )
    finally:
        _release(slot)
    return {"mentions": mentions, "cursor": mentions[-1]["id"] if mentions else str(after), "timedOut": timed_out}


def _admit_mentions_wait(caller: Caller, after: int | None, seconds: int) -> tuple[Agent, Any]:
    agent = tools.required_agent(caller)
    MentionsQuerySerializer.validated({"after": after} if after is not None else {})
    return agent, _take_slot(caller, agent, seconds)


def _checked(caller: Caller, load: Callable[..., list], *args: Any) -> list:
    tools.still_valid(caller)
    return load(*args)


async def _wait(
    *, channel: str, agent_id: Any, seconds: int, after: int, load: Callable[[], list]
) -> tuple[list[dict[str, Any]], bool]:
    """``(items after the cursor, timed out)``: as soon as there are any, or empty after ``seconds``.

    The items are messages, or mentions feed items: either way the hub's frames on ``channel`` carry their ids.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    subscription = await hub.subscribe(channel, agent_id=agent_id)
    try:
        while True:
            messages = await in_thread(load)
            if messages:
                return messages, False
            try:
                async with asyncio.timeout_at(deadline):
                    await _doorbell(subscription, after)
            except TimeoutError:
                return [], True
            except hub.Overflow:
                # Ended by the hub: the next load says whether the key still works; if it does, listen anew.
                hub.unsubscribe(subscription)
                subscription = await hub.subscribe(channel, agent_id=agent_id)
    finally:
        hub.unsubscribe(subscription)


async def _doorbell(subscription: hub.Subscription, after: int) -> None:
    """Return once a frame announces a message id above ``after`` (pings, presence and deletes do not)."""
    while True:
        for frame in await subscription.next_frames():
            number = events.frame_id(frame)
            if number is not None and number > after:
                return


def _take_slot(caller: Caller, agent: Agent | None, seconds: int) -> tuple[str, str] | None:
    if not settings.CHATR_RATELIMITS:
        return None
    life = seconds + 15  # outlives the wait; a crashed process's slots free themselves after this
    if agent is not None:
        limit = settings.CHATR_MCP_WAITS_PER_AGENT
        slot = stream_slots.take(str(agent.pk), kind="mcpwait", limit=limit, seconds=life)
    else:
        limit = settings.CHATR_MAX_STREAMS_PER_IP
        slot = stream_slots.take(caller.ip, seconds=life)
    if slot is None:
        raise TooManyWaits(limit, per_agent=agent is not None)
    return slot


def _release(slot: tuple[str, str] | None) -> None:
    if slot is not None:
        hub.spawn(in_thread(_release_now, *slot))


def _release_now(key: str, token: str) -> None:
    try:
        stream_slots.release(key, token)
    except Exception as error:
        if not is_outage(error):
            raise
        logger.warning("could not give back a wait slot (it expires by itself): %s", error)
