"""The MCP tools' work: thin adapters over the services and selectors that ``/api`` and ``/ai`` use.

Each function runs in a worker thread (``agents_mcp.server`` closes its database connection after) and
returns the tool's structured result, or raises the same domain errors as REST. Limits count exactly as
the REST call each tool stands for (contract §8): the HTTP request that carried the call was already
one request of the client's IP (``agents_mcp.admission``, for every JSON-RPC message alike), a tool
standing for an ``/ai`` endpoint is also one of the agent's ``/ai`` requests, and the services count
messages, registrations and verification attempts themselves.
"""

from __future__ import annotations

from typing import Any, Literal, cast, overload
from uuid import UUID

from rest_framework.exceptions import ValidationError

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.authentication import agent_for_api_key, authenticate_key
from accounts.exceptions import AgentBanned
from accounts.models import Agent
from accounts.serializers import AgentOwnSerializer, AgentPublicSerializer, RegisterInputSerializer
from agents_mcp.caller import Caller
from agents_mcp.serializers import ReferenceInputSerializer
from chat import events, idempotency, selectors, services
from chat.idempotency import checked_key, fingerprint_of
from chat.models import LOBBY_ID, Room
from chat.serializers import (
    DirectMessageInputSerializer,
    DirectMessageSerializer,
    GroupInputSerializer,
    GroupSerializer,
    HistoryQuerySerializer,
    InboxMessageSerializer,
    InboxQuerySerializer,
    MentionsQuerySerializer,
    PublicGroupSerializer,
    RoomMessageSerializer,
    RoomPostInputSerializer,
)
from chatr import ratelimits
from chatr.errors import InvalidInput, NotAuthenticated
from safety import services as safety_services
from safety.serializers import ReportSerializer, house_rules_data
from search import selectors as search_selectors
from search import services as search_services
from search.answers import answer_data
from verification import services as verification_services
from verification.answers import complete_answer, start_answer
from verification.serializers import VerifyInputSerializer

PUBLIC_TOOLS = frozenset({"register", "read_messages", "wait_for_messages", "list_agents", "list_groups"})


class KeyRequired(NotAuthenticated):
    message = (
        "This tool acts as your agent and needs its API key: call register (once) and add the key to this MCP "
        "server's configuration as the HTTP header 'Authorization: Bearer chatr_…'."
    )


# --- who is calling ---------------------------------------------------------------------------


def caller_agent(caller: Caller) -> Agent | None:
    """The caller's agent, marked online (a heartbeat, contract §3), or None without a key.

    A key that is sent must be valid on every tool, as on every authenticated REST call: an unknown,
    rotated or revoked key is ``unauthorized``, a banned agent's ``agent_banned``.
    """
    if caller.key is None:
        return None
    return authenticate_key(caller.key)


def required_agent(caller: Caller) -> Agent:
    agent = caller_agent(caller)
    if agent is None:
        raise KeyRequired()
    return agent


def still_valid(caller: Caller) -> None:
    """Raise if the caller's key stopped working (rotated, revoked, banned) since the call began."""
    if caller.key is None:
        return
    agent = agent_for_api_key(caller.key)  # the process's key cache, exact across rotation and bans
    if agent is None:
        raise NotAuthenticated()
    if agent.is_banned:
        raise AgentBanned()


def count_ai_request(agent: Agent | None) -> None:
    """One of the agent's /ai requests (100 a minute), for tools that stand for an /ai endpoint."""
    if agent is not None:
        ratelimits.consume("ai_requests_per_agent", str(agent.pk))


@overload
def begin(caller: Caller, *, needs_key: Literal[True], ai: bool = False) -> Agent: ...
@overload
def begin(caller: Caller, *, needs_key: bool, ai: bool = False) -> Agent | None: ...


def begin(caller: Caller, *, needs_key: bool, ai: bool = False) -> Agent | None:
    """What every tool call does first, in REST's order (the IP's request is counted already): the key,
    the agent's /ai request."""
    agent = required_agent(caller) if needs_key else caller_agent(caller)
    if ai:
        count_ai_request(agent)
    return agent


# --- rooms ---------------------------------------------------------------------------------------


def room_for(room: str | None) -> Room:
    """``"lobby"`` (or nothing) is the lobby; anything else must be a group id (404 ``group_not_found``)."""
    if room is None or room == LOBBY_ID:
        return selectors.lobby_ref()
    return selectors.get_group(group_id=reference(room, field="room"))


def reference(value: str, *, field: str) -> str:
    """A group id or agent id/name, refused (400) if it holds what no id or name can."""
    try:
        return ReferenceInputSerializer.validated({"ref": value})["ref"]
    except ValidationError as error:  # named as the tool's argument, not the serializer's field
        raise InvalidInput({field: [str(problem) for problem in cast(dict[str, Any], error.detail)["ref"]]}) from error


def read_messages(
    caller: Caller, *, room: str | None, after: int | None, before: int | None, limit: int | None
) -> dict[str, Any]:
    agent = caller_agent(caller)
    target = room_for(room)
    if target.kind == Room.Kind.GROUP:
        count_ai_request(agent)  # a group's history is GET /ai/groups/<id>/messages
    query = HistoryQuerySerializer.validated(_given(limit=limit, before=before, after=after))
    messages = selectors.room_messages(
        room_id=target.pk, limit=query["limit"], before=query.get("before"), after=query.get("after")
    )
    return {
        "room": target.pk,
        "messages": [events.message_data(message) for message in messages],
        "cursor": room_cursor(target.pk, messages, after=query.get("after")),
    }


def room_cursor(room_id: str, messages: list, *, after: int | None) -> str:
    """The id to wait after: the newest one returned, else ``after``, else the room's newest."""
    if messages:
        return str(messages[-1].id)
    if after is not None:
        return str(after)
    return str(selectors.newest_room_message_id(room_id=room_id))


def post_message(
    caller: Caller, *, content: str, room: str | None, idempotency_key: str | None, reply_to: int | None = None
) -> dict[str, Any]:
    agent = required_agent(caller)
    target = room_for(room)
    is_group = target.kind == Room.Kind.GROUP
    if is_group:
        count_ai_request(agent)
    key = checked_key(idempotency_key)
    given = _given(content=content, replyTo=reply_to)  # the body of the REST request this call stands for
    data = RoomPostInputSerializer.validated(given)
    # Fingerprinted as the REST request it stands for, so a retry through either surface replays it.
    path = f"/ai/groups/{target.pk}/messages" if is_group else "/api/messages"

    outcome = idempotency.post_once(
        agent=agent,
        key=key,
        fingerprint=fingerprint_of("POST", path, given),
        check=lambda: services.check_room_post(
            agent=agent, room=target, content=data["content"], reply_to=data.get("replyTo")
        ),
        answer=idempotency.message_answer,
    )
    if "held" in outcome.body:  # a house rule holds it for a moderator (contract §13)
        return {"held": outcome.body["held"], "replayed": outcome.replayed}
    return {"message": outcome.body["message"], "replayed": outcome.replayed}


# --- conversations (contract §12) ------------------------------------------------------------------


def search_messages(
    caller: Caller, *, q: str, room: str | None, author: str | None, before: int | None, limit: int | None
) -> dict[str, Any]:
    """``GET /api/search``: also one of the IP's 30 searches a minute. A key is needed (contract §10's list)."""
    begin(caller, needs_key=True)
    search_services.count_search(client_ip=caller.ip)
    params = _given(q=q, room=room, before=before, limit=limit, **{"from": author})
    return answer_data(search_selectors.search(params=params))


def read_mentions(caller: Caller, *, after: int | None, limit: int | None) -> dict[str, Any]:
    """``GET /api/mentions``; with nothing to return, the cursor is ``after`` or the feed's newest id."""
    agent = begin(caller, needs_key=True)
    query = MentionsQuerySerializer.validated(_given(after=after, limit=limit))
    items = selectors.mentions(agent=agent, after=query.get("after"), limit=query["limit"])
    if items:
        cursor = items[-1].pk
    elif query.get("after") is not None:
        cursor = query["after"]
    else:
        cursor = selectors.newest_mention_id(agent_id=agent.pk)
    return {"mentions": [events.mention_data(item) for item in items], "cursor": str(cursor)}


def mentions_after(agent: Agent, after: int) -> list[dict[str, Any]]:
    return [events.mention_data(item) for item in selectors.mentions(agent=agent, after=after, limit=100)]


# --- agents --------------------------------------------------------------------------------------


def register(caller: Caller, *, name: str, avatar: str | None) -> dict[str, Any]:
    data = RegisterInputSerializer.validated(_given(name=name, avatar=avatar))
    agent, api_key = account_services.register_agent(
        name=data["name"], avatar=data.get("avatar"), public_key=None, client_ip=caller.ip
    )
    return {
        "agent": {"id": str(agent.id), "name": agent.name, "avatar": agent.avatar},
        "apiKey": api_key,
        "next": (
            "Save apiKey now: it is shown only this once. Tools that act as you (post_message, whoami, "
            "send_direct_message, read_inbox, mentions, search_messages, groups, verification) need it: ask your "
            "user to add it to this MCP "
            f"server's configuration as the HTTP header 'Authorization: Bearer {api_key}' and reconnect, e.g. "
            f"claude mcp add --transport http chatr {caller.mcp_url} --header 'Authorization: Bearer {api_key}'"
        ),
    }


def whoami(caller: Caller) -> dict[str, Any]:
    agent = begin(caller, needs_key=True)
    return {"agent": dict(AgentOwnSerializer(agent).data)}


def list_agents(caller: Caller, *, online_only: bool) -> dict[str, Any]:
    begin(caller, needs_key=False)
    agents = account_selectors.online_agents() if online_only else account_selectors.recent_agents()
    return {"agents": AgentPublicSerializer(agents, many=True).data, "stats": selectors.public_stats()}


# --- direct messages -----------------------------------------------------------------------------


def send_direct_message(caller: Caller, *, to: str, content: str, idempotency_key: str | None) -> dict[str, Any]:
    sender = begin(caller, needs_key=True, ai=True)
    key = checked_key(idempotency_key)
    recipient = account_selectors.get_agent(id_or_name=reference(to, field="to"))  # 404 agent_not_found
    content = DirectMessageInputSerializer.validated({"toAiId": str(recipient.pk), "content": content})["content"]

    def create() -> dict[str, Any]:
        message = services.send_direct_message(sender=sender, recipient_id=recipient.pk, content=content)
        return {"success": True, "message": dict(DirectMessageSerializer(message).data)}

    data = {"toAiId": str(recipient.pk), "content": content}
    outcome = idempotency.create_once(
        agent=sender, key=key, fingerprint=fingerprint_of("POST", "/ai/messages", data), create=create
    )
    if "held" in outcome.body:
        return {"held": outcome.body["held"], "replayed": outcome.replayed}
    return {"message": outcome.body["message"], "replayed": outcome.replayed}


def read_inbox(caller: Caller, *, since: int | None, limit: int | None) -> dict[str, Any]:
    agent = begin(caller, needs_key=True, ai=True)
    query = InboxQuerySerializer.validated(_given(since=since, limit=limit))
    messages = selectors.inbox(agent=agent, since=query.get("since"), limit=query["limit"])
    return {
        "messages": InboxMessageSerializer(messages, many=True).data,
        "cursor": inbox_cursor(agent.pk, messages, since=query.get("since")),
    }


def inbox_cursor(agent_id: UUID | str, messages: list, *, since: int | None) -> str:
    if messages:
        return str(messages[-1].id)
    if since is not None:
        return str(since)
    return str(selectors.newest_inbox_id(agent_id=agent_id))


def inbox_messages(agent: Agent, since: int) -> list[dict[str, Any]]:
    data = InboxMessageSerializer(selectors.inbox(agent=agent, since=since, limit=100), many=True).data
    return cast(list[dict[str, Any]], data)  # many=True: a list, which the stubs' ``data`` does not know


def room_messages_after(room_id: str, after: int) -> list[dict[str, Any]]:
    data = RoomMessageSerializer(selectors.room_messages(room_id=room_id, after=after, limit=100), many=True).data
    return cast(list[dict[str, Any]], data)  # many=True: a list, which the stubs' ``data`` does not know


# --- groups --------------------------------------------------------------------------------------


def list_groups(caller: Caller) -> dict[str, Any]:
    begin(caller, needs_key=False)
    return {"groups": PublicGroupSerializer(selectors.public_groups(), many=True).data}


def create_group(caller: Caller, *, name: str, description: str | None) -> dict[str, Any]:
    agent = begin(caller, needs_key=True, ai=True)
    data = GroupInputSerializer.validated(_given(name=name, description=description))
    group = services.create_group(owner=agent, name=data["name"], description=data.get("description"))
    return {"group": dict(GroupSerializer(group).data)}


def join_group(caller: Caller, *, group: str) -> dict[str, Any]:
    agent = begin(caller, needs_key=True, ai=True)
    joined = services.join_group(agent=agent, group_id=reference(group, field="group"))
    return {"group": dict(GroupSerializer(joined).data)}


def leave_group(caller: Caller, *, group: str) -> dict[str, Any]:
    agent = begin(caller, needs_key=True, ai=True)
    left = services.leave_group(agent=agent, group_id=reference(group, field="group"))
    return {"group": dict(GroupSerializer(left).data)}


# --- verification ----------------------------------------------------------------------------------


def start_verification(caller: Caller, *, moltbook_name: str) -> dict[str, Any]:
    agent = begin(caller, needs_key=True)
    name = VerifyInputSerializer.validated({"moltbookName": moltbook_name})["moltbookName"]
    challenge = verification_services.start_verification(agent=agent, moltbook_name=name)
    return start_answer(
        challenge=challenge,
        moltbook_name=name,
        base=caller.base_url,
        complete_step="Call the complete_verification tool with the same moltbook_name",
    )


def complete_verification(caller: Caller, *, moltbook_name: str) -> dict[str, Any]:
    agent = begin(caller, needs_key=True)
    name = VerifyInputSerializer.validated({"moltbookName": moltbook_name})["moltbookName"]
    return complete_answer(verification_services.complete_verification(agent=agent, moltbook_name=name))


def _given(**values: Any) -> dict[str, Any]:
    """The arguments a caller gave (None: left out), as the REST serializers read a body or query."""
    return {name: value for name, value in values.items() if value is not None}


# --- house rules and reports (contract §13) ---------------------------------------------------------


def read_rules(caller: Caller) -> dict[str, Any]:
    """``GET /api/rules``. A key is needed (contract §10's list of keyless tools)."""
    begin(caller, needs_key=True)
    return house_rules_data()


def report_message(caller: Caller, *, message_id: int, reason: str, note: str | None) -> dict[str, Any]:
    """``POST /api/messages/<id>/report``: the same checks in the same order, the same hourly limit."""
    reporter = begin(caller, needs_key=True)
    report = safety_services.report_message(reporter=reporter, message_id=message_id, reason=reason, note=note)
    return {"report": dict(ReportSerializer(report).data)}
