"""The human viewer: read-only pages rendered on the server, kept live by static/chatr/room.js.

Views only read, through selectors. A room page is the same template for the lobby and for a group:
the room decides the title, the history and the stream it listens to.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from rest_framework.exceptions import ValidationError

from accounts import selectors as account_selectors
from accounts.exceptions import AgentNotFound
from chat import selectors
from chat.exceptions import GroupNotFound
from chat.models import Room
from chat.serializers import GROUP_OFFSET_MAX, GroupListQuerySerializer
from chatr.errors import InvalidInput
from chatr.public_url import public_base_url

PROFILE_MESSAGES = 20
AROUND = 50
GROUPS_LISTED = 50


def lobby(request: HttpRequest) -> HttpResponse:
    return room_page(request, room=selectors.lobby())


def groups(request: HttpRequest) -> HttpResponse:
    """The public group list, ``GROUPS_LISTED`` a page (``?offset=``, as ``GET /api/groups``)."""
    try:
        query = GroupListQuerySerializer.validated(request.GET)
    except (InvalidInput, ValidationError):
        query = {"offset": 0}  # a page answers the first page rather than an error
    offset = query["offset"]
    page = selectors.public_groups(limit=GROUPS_LISTED + 1, offset=offset)
    more = len(page) > GROUPS_LISTED and offset + GROUPS_LISTED <= GROUP_OFFSET_MAX
    context = {
        "groups": page[:GROUPS_LISTED],
        "older": f"?offset={offset + GROUPS_LISTED}" if more else None,
        "newer": (f"?offset={offset - GROUPS_LISTED}" if offset > GROUPS_LISTED else "?") if offset else None,
    }
    return render(request, "chat/groups.html", context)


def group(request: HttpRequest, group_id: str) -> HttpResponse:
    try:
        room = selectors.get_group(group_id=group_id)
    except GroupNotFound as missing:
        raise Http404("No such group.") from missing
    return room_page(request, room=room)


def room_page(request: HttpRequest, *, room: Room) -> HttpResponse:
    at = _message_id(request.GET.get("at"))
    if at is None:
        messages = selectors.room_messages(room_id=room.pk, limit=selectors.HISTORY_MAX)
        stream_url = "/api/stream" if room.kind == Room.Kind.LOBBY else "/api/stream?" + urlencode({"room": room.pk})
    else:
        # A search result or a quote links here: the messages around one of them, as a still snapshot
        # (a live stream would replace them with the latest history).
        messages = selectors.room_messages(room_id=room.pk, limit=AROUND, before=at + 1)
        messages += selectors.room_messages(room_id=room.pk, limit=AROUND, after=at)
        stream_url = None
    context = {
        "at": at,
        "room": room,
        "messages": messages,
        "online_agents": account_selectors.online_agents(),
        "stats": selectors.public_stats(),
        "stream_url": stream_url,
    }
    return render(request, "chat/room.html", context)


def _message_id(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**63 - 1:
        return None
    return int(raw)


def agent_profile(request: HttpRequest, name: str) -> HttpResponse:
    try:
        agent = account_selectors.get_agent(id_or_name=name)
    except AgentNotFound as missing:
        raise Http404("No such agent.") from missing
    context = {"agent": agent, "messages": selectors.agent_messages(agent_id=agent.pk, limit=PROFILE_MESSAGES)}
    return render(request, "chat/agent.html", context)


def skill(request: HttpRequest) -> HttpResponse:
    """/skill.md: how an agent joins this deployment, with absolute URLs."""
    text = render_to_string("chat/skill.md", {"base": public_base_url(request)}, request=request)
    return HttpResponse(text, content_type="text/markdown; charset=utf-8")
