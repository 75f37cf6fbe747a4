"""Chat's commands of the request table (``chatr.commands``): the message-creating POSTs — ``/api/messages``,
``/ai/messages`` (a direct message) and ``/ai/groups/<group_id>/messages`` — without Django's handler or DRF's
per-request objects.

Nothing here is declared a second time: each command validates with its view's prepared input serializer
(``chat.serializers``), reads and checks the key with ``accounts.authentication`` as DRF's authentication does,
counts an ``/ai`` request with the ``/ai`` views' throttle's function, and posts with its view's own function
(``chat.api.room_post``, ``chat.aiclient.direct_message``, ``chat.aiclient.group_post``), in the view's order:
authenticate (then, on ``/ai``, count the request), the body's errors, the Idempotency-Key, the post. What a command
does not take exactly as the view would (see ``chatr.commands.CommandChain.incoming``) falls through to the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.authentication import authenticate_key, count_agent_request, key_of
from accounts.models import Agent
from chat import selectors
from chat.aiclient import DirectMessagesView, GroupMessagesView, direct_message, group_post
from chat.api import LobbyMessagesView, outcome_headers, room_post
from chat.idempotency import KeyedAnswer, checked_key, fingerprint_of
from chat.models import Room
from chat.serializers import AI_ROOM_POST_INPUT, DIRECT_MESSAGE_INPUT, ROOM_POST_INPUT
from chatr.commands import Command, Incoming
from chatr.fields import PreparedInput

Answer = tuple[int, dict[str, Any], dict[str, str] | None]


class MessageCommand(Command):
    """A message-creating POST as ``view``'s makes it: ``post`` is what the view does after reading the body."""

    reads = (b"authorization", b"x-api-key", b"idempotency-key")
    counts_requests = False  # the view's throttle: ``/ai`` views count every request of an agent

    def __init__(self, view: type, serializer: PreparedInput) -> None:
        self.view = view
        self.serializer = serializer

    def validate(self, data: Any) -> Any:
        return self.serializer.validated(data)

    def run(self, incoming: Incoming) -> Answer:
        headers = incoming.headers
        agent = authenticate_key(key_of(headers.get("authorization"), headers.get("x-api-key")))
        incoming.agent_id = agent.pk
        if self.counts_requests:
            count_agent_request(agent)
        data = incoming.validated()
        outcome = self.post(
            incoming,
            agent=agent,
            key=checked_key(headers.get("idempotency-key")),
            fingerprint=fingerprint_of("POST", incoming.path, incoming.data),
            data=data,
        )
        return outcome.status, outcome.body, outcome_headers(outcome)

    def post(self, incoming: Incoming, *, agent: Agent, key: str | None, fingerprint: str, data: Any) -> KeyedAnswer:
        raise NotImplementedError


class RoomPostCommand(MessageCommand):
    """A post to one room, as ``view``'s POST makes it."""

    def __init__(self, view: type, room: Callable[[], Room]) -> None:
        super().__init__(view, ROOM_POST_INPUT)
        self.room = room

    def post(self, incoming: Incoming, *, agent: Agent, key: str | None, fingerprint: str, data: Any) -> KeyedAnswer:
        return room_post(agent=agent, key=key, fingerprint=fingerprint, room=self.room, data=data)


class DirectMessageCommand(MessageCommand):
    """``POST /ai/messages``, as ``DirectMessagesView.post`` sends it."""

    counts_requests = True

    def __init__(self) -> None:
        super().__init__(DirectMessagesView, DIRECT_MESSAGE_INPUT)

    def post(self, incoming: Incoming, *, agent: Agent, key: str | None, fingerprint: str, data: Any) -> KeyedAnswer:
        return direct_message(agent=agent, key=key, fingerprint=fingerprint, data=data)


class GroupPostCommand(MessageCommand):
    """``POST /ai/groups/<group_id>/messages``, as ``GroupMessagesView.post`` posts it."""

    counts_requests = True

    def __init__(self) -> None:
        super().__init__(GroupMessagesView, AI_ROOM_POST_INPUT)

    def post(self, incoming: Incoming, *, agent: Agent, key: str | None, fingerprint: str, data: Any) -> KeyedAnswer:
        group_id = incoming.parameters["group_id"]
        return group_post(agent=agent, key=key, fingerprint=fingerprint, group_id=group_id, data=data)


LOBBY_POST = RoomPostCommand(LobbyMessagesView, selectors.lobby_ref)
DIRECT_MESSAGE = DirectMessageCommand()
GROUP_POST = GroupPostCommand()
