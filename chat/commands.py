"""Chat's commands of the request table (``chatr.commands``): the message-creating POSTs — ``/api/messages``,
``/ai/messages`` (a direct message) and ``/ai/groups/<group_id>/messages`` — without Django's handler or DRF's
per-request objects.

Nothing here is declared a second time: each command validates with its view's prepared input serializer
(``chat.serializers``), reads and checks the key with ``accounts.authentication`` as DRF's authentication does,
counts an ``/ai`` request with the ``/ai`` views' throttle's function, and posts with its view's own functions
(a room post — lobby or group — with ``chat.api.room_prepare``, the part of the views' ``room_post`` up to the
writer, so that a drain stores a burst at once; a direct message with ``chat.aiclient.direct_message``), in the
view's order: authenticate (then, on ``/ai``, count the request), the body's errors, the Idempotency-Key, the post.
What a command does not take exactly as the view would (see ``chatr.commands.CommandChain.incoming``) falls through
to the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.authentication import authenticate_key, count_agent_request, key_of, read_keys_once
from accounts.models import Agent
from chat import selectors, writer
from chat.aiclient import DirectMessagesView, GroupMessagesView, direct_message, group_room
from chat.api import LobbyMessagesView, outcome_headers, room_prepare
from chat.idempotency import KeyedAnswer, PendingPost, checked_key, fingerprint_of
from chat.models import Room
from chat.serializers import AI_ROOM_POST_INPUT, DIRECT_MESSAGE_INPUT, ROOM_POST_INPUT
from chatr.commands import Command, Incoming, Outcome
from chatr.fields import PreparedInput


class MessageCommand(Command):
    """A message-creating POST as ``view``'s makes it: ``post`` is what the view does after reading the body."""

    reads = (b"authorization", b"x-api-key", b"idempotency-key")
    counts_requests = False  # the view's throttle: ``/ai`` views count every request of an agent

    def __init__(self, view: type, serializer: PreparedInput) -> None:
        self.view = view
        self.serializer = serializer

    def validate(self, data: Any) -> Any:
        return self.serializer.validated(data)

    def checked(self, incoming: Incoming) -> tuple[Agent, str | None, Any]:
        """The view's steps before the post, in its order: authenticate (then, on ``/ai``, count the request), the
        body's errors, the Idempotency-Key; the agent, the key and the validated data."""
        headers = incoming.headers
        agent = authenticate_key(presented(incoming))
        incoming.agent_id = agent.pk
        if self.counts_requests:
            count_agent_request(agent)
        data = incoming.validated()
        return agent, checked_key(headers.get("idempotency-key")), data

    def run(self, incoming: Incoming) -> Outcome:
        agent, key, data = self.checked(incoming)
        fingerprint = fingerprint_of("POST", incoming.path, incoming.data)
        return answered(self.post(incoming, agent=agent, key=key, fingerprint=fingerprint, data=data))

    def post(self, incoming: Incoming, *, agent: Agent, key: str | None, fingerprint: str, data: Any) -> KeyedAnswer:
        raise NotImplementedError


class RoomPostCommand(MessageCommand):
    """A post to one room, as ``view``'s POST makes it; a burst of them is answered by the drain (``run_all``)."""

    def __init__(
        self,
        view: type,
        room_of: Callable[[Incoming], Callable[[], Room]],
        serializer: PreparedInput = ROOM_POST_INPUT,
    ) -> None:
        super().__init__(view, serializer)
        self.room_of = room_of  # the request's room, looked up when its post is checked (after a replay)

    def run(self, incoming: Incoming) -> Outcome:
        prepared = self.prepare(incoming)
        if isinstance(prepared, PendingPost):
            prepared = prepared.finish(writer.store(prepared.post))
        return answered(prepared)

    def run_all(self, incomings: list[Incoming]) -> list[Outcome | Exception]:
        """Each request prepared in its own context, then every checked post stored by one writer call."""
        prepared: list[KeyedAnswer | PendingPost | Exception] = []
        # Every request of the burst began before this point: one read of their keys' versions serves them all.
        with read_keys_once(presented(incoming) for incoming in incomings):
            for incoming in incomings:
                try:
                    prepared.append(incoming.within(self.prepare, incoming))
                except Exception as error:
                    prepared.append(error)
        pending = [each for each in prepared if isinstance(each, PendingPost)]
        stored = iter(writer.store_all([each.post for each in pending]))
        outcomes: list[Outcome | Exception] = []
        for each in prepared:
            if isinstance(each, PendingPost):
                result = next(stored)
                if isinstance(result, Exception):
                    outcomes.append(result)
                    continue
                if isinstance(result, BaseException):
                    raise result
                each = each.finish(result)
            outcomes.append(each if isinstance(each, Exception) else answered(each))
        return outcomes

    def prepare(self, incoming: Incoming) -> KeyedAnswer | PendingPost:
        """The view's steps up to the writer: ``checked``, then the post's rules (``chat.api.room_prepare``)."""
        agent, key, data = self.checked(incoming)
        return room_prepare(
            agent=agent,
            key=key,
            fingerprint=lambda: fingerprint_of("POST", incoming.path, incoming.data),
            room=self.room_of(incoming),
            data=data,
        )


def presented(incoming: Incoming) -> str | None:
    """The key the request presents, as ``accounts.authentication.presented_key`` reads a Django request's."""
    return key_of(incoming.headers.get("authorization"), incoming.headers.get("x-api-key"))


def answered(outcome: KeyedAnswer) -> Outcome:
    return outcome.status, outcome.body, outcome_headers(outcome)


class DirectMessageCommand(MessageCommand):
    """``POST /ai/messages``, as ``DirectMessagesView.post`` sends it."""

    counts_requests = True

    def __init__(self) -> None:
        super().__init__(DirectMessagesView, DIRECT_MESSAGE_INPUT)

    def post(self, incoming: Incoming, *, agent: Agent, key: str | None, fingerprint: str, data: Any) -> KeyedAnswer:
        return direct_message(agent=agent, key=key, fingerprint=fingerprint, data=data)


class GroupPostCommand(RoomPostCommand):
    """``POST /ai/groups/<group_id>/messages``, as ``GroupMessagesView.post`` posts it (``chat.aiclient.group_post``:
    ``room_post`` to ``group_room``), a burst at once by the drain as the lobby's posts."""

    counts_requests = True

    def __init__(self) -> None:
        super().__init__(
            GroupMessagesView, lambda incoming: group_room(incoming.parameters["group_id"]), AI_ROOM_POST_INPUT
        )


LOBBY_POST = RoomPostCommand(LobbyMessagesView, lambda incoming: selectors.lobby_ref)
DIRECT_MESSAGE = DirectMessageCommand()
GROUP_POST = GroupPostCommand()
