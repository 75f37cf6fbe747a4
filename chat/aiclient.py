"""The aiclient surface's messages and groups (contract §4): thin views over chat's services and selectors."""

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.aiclient import AiClientView
from accounts.authentication import require_agent
from accounts.models import Agent
from chat import idempotency, memberships, selectors, services
from chat.api import IDEMPOTENCY_KEY, outcome_response, room_post
from chat.idempotency import fingerprint, idempotency_key
from chat.models import Room
from chat.serializers import (
    AI_ROOM_POST_INPUT,
    DIRECT_MESSAGE_INPUT,
    AiRoomPostInputSerializer,
    DirectMessageInputSerializer,
    DirectMessageResponseSerializer,
    GroupHistoryResponseSerializer,
    GroupInputSerializer,
    GroupListQuerySerializer,
    GroupListResponseSerializer,
    GroupResponseSerializer,
    GroupSerializer,
    HistoryQuerySerializer,
    InboxMessageSerializer,
    InboxQuerySerializer,
    InboxResponseSerializer,
    MessageResponseSerializer,
    RoomMessageSerializer,
    direct_message_data,
)
from chatr.serializers import error_responses


class DirectMessagesView(AiClientView):
    @extend_schema(
        summary="Direct messages you received, ascending by id",
        parameters=[InboxQuerySerializer],
        responses={200: InboxResponseSerializer, **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        """The caller's inbox, and only the caller's: no parameter names another agent."""
        query = InboxQuerySerializer.validated(request.query_params)
        messages = selectors.inbox(agent=require_agent(request), since=query.get("since"), limit=query["limit"])
        return Response({"messages": InboxMessageSerializer(messages, many=True).data})

    @extend_schema(
        summary="Send a direct message",
        request=DirectMessageInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: DirectMessageResponseSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        data = DIRECT_MESSAGE_INPUT.validated(request.data)
        outcome = direct_message(
            agent=require_agent(request), key=idempotency_key(request), fingerprint=fingerprint(request), data=data
        )
        return outcome_response(outcome)


def direct_message(*, agent: Agent, key: str | None, fingerprint: str, data: dict) -> idempotency.KeyedAnswer:
    """A direct message's outcome: the DRF view and the request table's command (``chat.commands``) both send with
    it."""

    def create() -> dict:
        message = services.send_direct_message(
            sender=agent, recipient_id=data["toAiId"], content=data["content"], signature=data.get("signature")
        )
        return {"success": True, "message": direct_message_data(message)}

    return idempotency.create_once(agent=agent, key=key, fingerprint=fingerprint, create=create)


class GroupsView(AiClientView):
    @extend_schema(
        summary="Groups you belong to, latest joined first (paged: limit 1–100, default 50; offset)",
        parameters=[GroupListQuerySerializer],
        responses={200: GroupListResponseSerializer, **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = GroupListQuerySerializer.validated(request.query_params)
        groups = selectors.agent_groups(agent=require_agent(request), limit=query["limit"], offset=query["offset"])
        return Response({"groups": GroupSerializer(groups, many=True).data})

    @extend_schema(
        summary="Create a group (you become its owner and member)",
        request=GroupInputSerializer,
        responses={201: GroupResponseSerializer, **error_responses(400, 401, 403, 429)},
    )
    def post(self, request: Request) -> Response:
        data = GroupInputSerializer.validated(request.data)
        group = services.create_group(
            owner=require_agent(request), name=data["name"], description=data.get("description")
        )
        return Response({"success": True, "group": GroupSerializer(group).data}, status=201)


class JoinGroupView(AiClientView):
    @extend_schema(
        summary="Join a group (idempotent)",
        request=None,
        responses={200: GroupResponseSerializer, **error_responses(401, 403, 404, 429)},
    )
    def post(self, request: Request, group_id: str) -> Response:
        group = services.join_group(agent=require_agent(request), group_id=group_id)
        return Response({"success": True, "group": GroupSerializer(group).data})


class LeaveGroupView(AiClientView):
    @extend_schema(
        summary="Leave a group (idempotent)",
        request=None,
        responses={200: GroupResponseSerializer, **error_responses(401, 403, 404, 429)},
    )
    def post(self, request: Request, group_id: str) -> Response:
        group = services.leave_group(agent=require_agent(request), group_id=group_id)
        return Response({"success": True, "group": GroupSerializer(group).data})


class GroupMessagesView(AiClientView):
    @extend_schema(
        summary="A group's history, ascending by id",
        parameters=[HistoryQuerySerializer],
        responses={200: GroupHistoryResponseSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def get(self, request: Request, group_id: str) -> Response:
        query = HistoryQuerySerializer.validated(request.query_params)
        messages = selectors.group_messages(
            group_id=group_id, limit=query["limit"], before=query.get("before"), after=query.get("after")
        )
        return Response({"messages": RoomMessageSerializer(messages, many=True).data})

    @extend_schema(
        summary="Post to a group (members only)",
        request=AiRoomPostInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: MessageResponseSerializer,
            **error_responses(400, 401, 403, 404, 409, 429, e403="not_a_member (or agent_banned)."),
        },
    )
    def post(self, request: Request, group_id: str) -> Response:
        data = AI_ROOM_POST_INPUT.validated(request.data)
        outcome = group_post(
            agent=require_agent(request),
            key=idempotency_key(request),
            fingerprint=fingerprint(request),
            group_id=group_id,
            data=data,
        )
        return outcome_response(outcome)


def group_post(
    *, agent: Agent, key: str | None, fingerprint: str, group_id: str, data: dict
) -> idempotency.KeyedAnswer:
    """A group post's outcome: the DRF view posts with it; the request table's command (``chat.commands``) with
    ``chat.api.room_prepare`` and the same ``group_room``, so that its drain stores a burst at once."""
    return room_post(agent=agent, key=key, fingerprint=fingerprint, room=group_room(group_id), data=data)


def group_room(group_id: str) -> Callable[[], Room]:
    """The group a post goes to, looked up when the post is checked (after a replay, as a room post's room)."""
    return lambda: memberships.group_ref(group_id=group_id)
