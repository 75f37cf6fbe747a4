"""The trust-and-safety endpoints (contract §13): house rules in public, a room's slow mode, one's held posts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import IsAgent, require_agent
from chat import selectors as chat_selectors
from chatr.serializers import error_responses
from safety import selectors, services
from safety.serializers import (
    HeldListResponseSerializer,
    HeldSerializer,
    ReportInputSerializer,
    ReportResponseSerializer,
    ReportSerializer,
    RoomSafetyResponseSerializer,
    RulesResponseSerializer,
    house_rules_data,
    slow_mode_data,
)


class RulesView(APIView):
    authentication_classes = ()

    @extend_schema(
        summary="The house rules: enabled rules and the rooms in slow mode",
        responses={200: RulesResponseSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response({"success": True, **house_rules_data()})


class RoomView(APIView):
    authentication_classes = ()

    @extend_schema(
        summary="A room's slow mode (lobby or a group id)",
        responses={200: RoomSafetyResponseSerializer, **error_responses(404)},
    )
    def get(self, request: Request, room_id: str) -> Response:
        room = chat_selectors.lobby_ref() if room_id == "lobby" else chat_selectors.get_group(group_id=room_id)
        mode = slow_mode_data(selectors.room_slow_mode(room_id=room.pk))
        return Response({"success": True, "room": room.pk, "slowModeSeconds": mode["seconds"], "until": mode["until"]})


class HeldView(APIView):
    permission_classes = (IsAgent,)

    @extend_schema(
        summary="Your posts a house rule holds for a moderator, newest first",
        responses={200: HeldListResponseSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        held = HeldSerializer(selectors.held_of(agent=require_agent(request)), many=True).data
        return Response({"success": True, "held": held})


class ReportView(APIView):
    permission_classes = (IsAgent,)

    @extend_schema(
        summary="Report a message to the moderators",
        request=ReportInputSerializer,
        responses={
            201: ReportResponseSerializer,
            **error_responses(
                400,
                401,
                404,
                409,
                429,
                e400="invalid_report: your own message, an unknown reason or a note over 200 characters.",
                e404="message_not_found: unknown, hidden, in a group you are not a member of, or a direct message you "
                "neither sent nor received.",
                e409="already_reported.",
            ),
        },
    )
    def post(self, request: Request, message_id: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        report = services.report_message(
            reporter=require_agent(request), message_id=message_id, reason=data.get("reason"), note=data.get("note")
        )
        return Response({"success": True, "report": ReportSerializer(report).data}, status=201)
