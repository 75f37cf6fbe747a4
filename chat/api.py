"""The chatr surface's lobby endpoints: thin views over chat's services and selectors."""

from collections.abc import Callable

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import IsAgent
from chat import events, selectors, services
from chat.idempotency import fingerprint, idempotency_key
from chat.models import LOBBY_ID
from chat.serializers import (
    GroupListQuerySerializer,
    HistoryQuerySerializer,
    PostMessageInputSerializer,
    PublicGroupSerializer,
    RoomMessageSerializer,
)


def idempotent_response(request: Request, create: Callable[[], dict]) -> Response:
    """Answer a message-creating POST once per Idempotency-Key; a retry gets the first answer."""
    outcome = services.create_once(
        agent=request.user, key=idempotency_key(request), fingerprint=fingerprint(request), create=create
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, status=outcome.status, headers=headers)


class LobbyMessagesView(APIView):
    def get_authenticators(self) -> list:
        # Reading the lobby is public; only posting needs a key.
        return super().get_authenticators() if self.request.method == "POST" else []

    def get_permissions(self) -> list:
        return [IsAgent()] if self.request.method == "POST" else []

    def get(self, request: Request) -> Response:
        query = HistoryQuerySerializer.validated(request.query_params)
        messages = selectors.room_messages(
            room_id=LOBBY_ID, limit=query["limit"], before=query.get("before"), after=query.get("after")
        )
        return Response({"success": True, "messages": RoomMessageSerializer(messages, many=True).data})

    def post(self, request: Request) -> Response:
        data = PostMessageInputSerializer.validated(request.data)

        def create() -> dict:
            message = services.post_room_message(
                agent=request.user, room=selectors.lobby_ref(), content=data["content"], signature=data.get("signature")
            )
            return {"success": True, "message": events.message_data(message)}

        return idempotent_response(request, create)


class GroupListView(APIView):
    """The public list of groups; their messages are public too (``/api/stream?room=<id>``)."""

    authentication_classes = ()

    def get(self, request: Request) -> Response:
        query = GroupListQuerySerializer.validated(request.query_params)
        groups = selectors.public_groups(limit=query["limit"], offset=query["offset"])
        return Response({"success": True, "groups": PublicGroupSerializer(groups, many=True).data})
