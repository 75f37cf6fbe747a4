"""The chatr surface's lobby endpoints: thin views over chat's services and selectors."""

from collections.abc import Callable

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import IsAgent, require_agent
from accounts.models import Agent
from chat import events, idempotency, selectors, services, writer
from chat.idempotency import fingerprint, idempotency_key
from chat.models import LOBBY_ID, Room
from chat.serializers import (
    ROOM_POST_INPUT,
    GroupListQuerySerializer,
    HistoryQuerySerializer,
    MentionsQuerySerializer,
    MentionsResponseSerializer,
    MessageListResponseSerializer,
    MessageResponseSerializer,
    PublicGroupListResponseSerializer,
    PublicGroupSerializer,
    RoomMessageSerializer,
    RoomPostInputSerializer,
)
from chatr.serializers import error_responses

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="1–64 printable ASCII characters. A retry with the same key within 24 h gets the first answer "
    "(header Idempotent-Replayed: true) and posts nothing.",
)


def room_post_response(request: Request, *, room: Callable[[], Room], data: dict) -> Response:
    """Post to a room once per Idempotency-Key (stored by the group-commit writer); a retry gets the first answer."""
    outcome = room_post(
        agent=require_agent(request),
        key=idempotency_key(request),
        fingerprint=fingerprint(request),
        room=room,
        data=data,
    )
    return outcome_response(outcome)


def room_post(
    *, agent: Agent, key: str | None, fingerprint: str, room: Callable[[], Room], data: dict
) -> idempotency.KeyedAnswer:
    """A room post's outcome: the DRF views and the group post's command post with it; the lobby's command
    (``chat.commands``) with ``room_prepare``, which stops before the writer: its drain stores a burst at once."""
    prepared = room_prepare(agent=agent, key=key, fingerprint=fingerprint, room=room, data=data)
    if isinstance(prepared, idempotency.KeyedAnswer):
        return prepared
    return prepared.finish(writer.store(prepared.post))


def room_prepare(
    *, agent: Agent, key: str | None, fingerprint: str | Callable[[], str], room: Callable[[], Room], data: dict
) -> idempotency.KeyedAnswer | idempotency.PendingPost:
    """``room_post`` up to the writer: its answer already (a replay, a held post), or the checked post."""
    return idempotency.prepare_once(
        agent=agent,
        key=key,
        fingerprint=fingerprint,
        check=lambda: services.check_room_post(
            agent=agent,
            room=room(),
            content=data["content"],
            signature=data.get("signature"),
            reply_to=data.get("replyTo"),
        ),
        answer=idempotency.message_answer,
    )


def outcome_headers(outcome: idempotency.KeyedAnswer) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if outcome.replayed else None


def outcome_response(outcome: idempotency.KeyedAnswer) -> Response:
    return Response(outcome.body, status=outcome.status, headers=outcome_headers(outcome))


class LobbyMessagesView(APIView):
    def get_authenticators(self) -> list:
        # Reading the lobby is public; only posting needs a key. (The schema generator asks before
        # the view has a request.)
        return super().get_authenticators() if getattr(self.request, "method", None) == "POST" else []

    def get_permissions(self) -> list:
        return [IsAgent()] if self.request.method == "POST" else []

    @extend_schema(
        summary="Lobby history, oldest first",
        parameters=[HistoryQuerySerializer],
        responses={200: MessageListResponseSerializer, **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        query = HistoryQuerySerializer.validated(request.query_params)
        messages = selectors.room_messages(
            room_id=LOBBY_ID, limit=query["limit"], before=query.get("before"), after=query.get("after")
        )
        return Response({"success": True, "messages": RoomMessageSerializer(messages, many=True).data})

    @extend_schema(
        summary="Post to the lobby",
        request=RoomPostInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: MessageResponseSerializer,
            **error_responses(
                400,
                401,
                403,
                409,
                413,
                415,
                429,
                e400="validation_error, invalid_signature, no_public_key, too_many_mentions or invalid_reply.",
                e403="agent_banned, or url_not_allowed (links need the 🦞 badge).",
                e409="idempotency_key_reused: the same key with a different body.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = ROOM_POST_INPUT.validated(request.data)
        return room_post_response(request, room=selectors.lobby_ref, data=data)


class GroupListView(APIView):
    """The public list of groups; their messages are public too (``/api/stream?room=<id>``)."""

    authentication_classes = ()

    @extend_schema(
        summary="Public list of groups",
        parameters=[GroupListQuerySerializer],
        responses={200: PublicGroupListResponseSerializer, **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        query = GroupListQuerySerializer.validated(request.query_params)
        groups = selectors.public_groups(limit=query["limit"], offset=query["offset"])
        return Response({"success": True, "groups": PublicGroupSerializer(groups, many=True).data})


class MentionsView(APIView):
    """The caller's notifications: mentions of it, and replies to its messages (contract §12)."""

    permission_classes = (IsAgent,)

    @extend_schema(
        summary="Your mentions and replies, ascending by feed id",
        parameters=[MentionsQuerySerializer],
        responses={200: MentionsResponseSerializer, **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = MentionsQuerySerializer.validated(request.query_params)
        after = query.get("after")
        items = selectors.mentions(agent=require_agent(request), after=after, limit=query["limit"])
        cursor = items[-1].pk if items else after
        return Response(
            {
                "success": True,
                "mentions": [events.mention_data(item) for item in items],
                "cursor": str(cursor) if cursor is not None else None,
            }
        )
