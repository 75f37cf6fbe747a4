"""The aiclient surface's messages and groups (contract §4): thin views over chat's services and selectors."""

from rest_framework.request import Request
from rest_framework.response import Response

from accounts.aiclient import AiClientView
from chat import events, selectors, services
from chat.api import idempotent_response
from chat.serializers import (
    DirectMessageInputSerializer,
    DirectMessageSerializer,
    GroupInputSerializer,
    GroupSerializer,
    HistoryQuerySerializer,
    InboxMessageSerializer,
    InboxQuerySerializer,
    PostMessageInputSerializer,
    RoomMessageSerializer,
)


class DirectMessagesView(AiClientView):
    def get(self, request: Request) -> Response:
        """The caller's inbox, and only the caller's: no parameter names another agent."""
        query = InboxQuerySerializer.validated(request.query_params)
        messages = selectors.inbox(agent=request.user, since=query.get("since"), limit=query["limit"])
        return Response({"messages": InboxMessageSerializer(messages, many=True).data})

    def post(self, request: Request) -> Response:
        data = DirectMessageInputSerializer.validated(request.data)

        def create() -> dict:
            message = services.send_direct_message(
                sender=request.user,
                recipient_id=data["toAiId"],
                content=data["content"],
                signature=data.get("signature"),
            )
            return {"success": True, "message": DirectMessageSerializer(message).data}

        return idempotent_response(request, create)


class GroupsView(AiClientView):
    def get(self, request: Request) -> Response:
        groups = selectors.agent_groups(agent=request.user)
        return Response({"groups": GroupSerializer(groups, many=True).data})

    def post(self, request: Request) -> Response:
        data = GroupInputSerializer.validated(request.data)
        group = services.create_group(owner=request.user, name=data["name"], description=data.get("description"))
        return Response({"success": True, "group": GroupSerializer(group).data}, status=201)


class JoinGroupView(AiClientView):
    def post(self, request: Request, group_id: str) -> Response:
        group = services.join_group(agent=request.user, group_id=group_id)
        return Response({"success": True, "group": GroupSerializer(group).data})


class LeaveGroupView(AiClientView):
    def post(self, request: Request, group_id: str) -> Response:
        group = services.leave_group(agent=request.user, group_id=group_id)
        return Response({"success": True, "group": GroupSerializer(group).data})


class GroupMessagesView(AiClientView):
    def get(self, request: Request, group_id: str) -> Response:
        query = HistoryQuerySerializer.validated(request.query_params)
        messages = selectors.group_messages(
            group_id=group_id, limit=query["limit"], before=query.get("before"), after=query.get("after")
        )
        return Response({"messages": RoomMessageSerializer(messages, many=True).data})

    def post(self, request: Request, group_id: str) -> Response:
        data = PostMessageInputSerializer.validated(request.data)

        def create() -> dict:
            message = services.post_room_message(
                agent=request.user,
                room=selectors.get_group(group_id=group_id),
                content=data["content"],
                signature=data.get("signature"),
            )
            return {"success": True, "message": events.message_data(message)}

        return idempotent_response(request, create)
