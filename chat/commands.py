"""Chat's commands of the request table (``chatr.commands``): ``POST /api/messages`` without Django's handler or
DRF's per-request objects.

Nothing here is declared a second time: the input serializer is the view's prepared one (``ROOM_POST_INPUT``),
the key is read and checked by ``accounts.authentication`` as DRF's authentication reads and checks it, and the
post is made by ``chat.api.room_post``, the view's own function; the view's order is kept (authenticate, then the
body's errors, then the Idempotency-Key, then the post). What the command does not take exactly as the view
would (see ``chatr.commands.CommandChain.incoming``) falls through to the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.authentication import authenticate_key, key_of
from chat import selectors, writer
from chat.api import LobbyMessagesView, outcome_headers, room_prepare
from chat.idempotency import KeyedAnswer, PendingPost, checked_key, fingerprint_of
from chat.models import Room
from chat.serializers import ROOM_POST_INPUT
from chatr.commands import Command, Incoming, Outcome


class RoomPostCommand(Command):
    """A post to one room, as ``view``'s POST makes it."""

    reads = (b"authorization", b"x-api-key", b"idempotency-key")

    def __init__(self, view: type, room: Callable[[], Room]) -> None:
        self.view = view
        self.room = room

    def validate(self, data: Any) -> Any:
        return ROOM_POST_INPUT.validated(data)

    def run(self, incoming: Incoming) -> Outcome:
        prepared = self.prepare(incoming)
        if isinstance(prepared, PendingPost):
            prepared = prepared.finish(writer.store(prepared.post))
        return answered(prepared)

    def run_all(self, incomings: list[Incoming]) -> list[Outcome | Exception]:
        """Each request prepared in its own context, then every checked post stored by one writer call."""
        prepared: list[KeyedAnswer | PendingPost | Exception] = []
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
        """The view's steps up to the writer, in its order: authenticate, the body's errors, the Idempotency-Key,
        then the post's rules (``chat.api.room_prepare``)."""
        headers = incoming.headers
        agent = authenticate_key(key_of(headers.get("authorization"), headers.get("x-api-key")))
        incoming.agent_id = agent.pk
        data = incoming.validated()
        return room_prepare(
            agent=agent,
            key=checked_key(headers.get("idempotency-key")),
            fingerprint=lambda: fingerprint_of("POST", incoming.path, incoming.data),
            room=self.room,
            data=data,
        )


def answered(outcome: KeyedAnswer) -> Outcome:
    return outcome.status, outcome.body, outcome_headers(outcome)


LOBBY_POST = RoomPostCommand(LobbyMessagesView, selectors.lobby_ref)
