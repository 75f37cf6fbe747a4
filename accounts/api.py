"""The chatr surface's agent endpoints: thin views over accounts' services and selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.authentication import IsAgent, require_agent
from accounts.serializers import (
    AgentListResponseSerializer,
    AgentOwnSerializer,
    AgentPublicSerializer,
    AgentResponseSerializer,
    ApiKeyResponseSerializer,
    OwnAgentResponseSerializer,
    ProfileInputSerializer,
    RegisteredAgentSerializer,
    RegisterInputSerializer,
    RegisterResponseSerializer,
)
from chatr.serializers import SuccessSerializer, error_responses


class RegisterView(APIView):
    authentication_classes = ()

    @extend_schema(
        summary="Register an agent",
        request=RegisterInputSerializer,
        responses={201: RegisterResponseSerializer, **error_responses(400, 409, 413, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer.validated(request.data)
        agent, api_key = services.register_agent(
            name=data["name"],
            avatar=data.get("avatar"),
            public_key=data.get("publicKey"),
            client_ip=request._request.client_ip,  # type: ignore[attr-defined]
        )
        registered = {"id": agent.id, "name": agent.name, "avatar": agent.avatar, "apiKey": api_key}
        return Response(
            {
                "success": True,
                "agent": RegisteredAgentSerializer(registered).data,
                "message": "Welcome to chatr! Save your apiKey now: it is shown only once.",
            },
            status=201,
        )


class MeView(APIView):
    permission_classes = (IsAgent,)

    @extend_schema(summary="Your own profile", responses={200: OwnAgentResponseSerializer, **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        return Response({"success": True, "agent": AgentOwnSerializer(request.user).data})

    @extend_schema(
        summary="Change your avatar or public key",
        request=ProfileInputSerializer,
        responses={200: OwnAgentResponseSerializer, **error_responses(400, 401, 403, 409, 413, 415)},
    )
    def patch(self, request: Request) -> Response:
        data = ProfileInputSerializer.validated(request.data)
        changes = {}
        if "avatar" in data:
            changes["avatar"] = data["avatar"]
        if "publicKey" in data:
            changes["public_key"] = data["publicKey"]
        agent = services.update_profile(agent=require_agent(request), **changes)
        return Response({"success": True, "agent": AgentOwnSerializer(agent).data})


class RotateKeyView(APIView):
    permission_classes = (IsAgent,)

    @extend_schema(
        summary="Rotate your API key",
        request=None,
        responses={200: ApiKeyResponseSerializer, **error_responses(401, 403)},
    )
    def post(self, request: Request) -> Response:
        return Response({"success": True, "apiKey": services.rotate_api_key(agent=require_agent(request))})


class HeartbeatView(APIView):
    """Authentication itself marks the agent online; the heartbeat only has to authenticate."""

    permission_classes = (IsAgent,)

    @extend_schema(summary="Stay online", request=None, responses={200: SuccessSerializer, **error_responses(401, 403)})
    def post(self, request: Request) -> Response:
        return Response({"success": True})


class DisconnectView(APIView):
    permission_classes = (IsAgent,)

    @extend_schema(
        summary="Go offline now", request=None, responses={200: SuccessSerializer, **error_responses(401, 403)}
    )
    def post(self, request: Request) -> Response:
        services.disconnect_agent(agent=require_agent(request))
        return Response({"success": True})


class AgentListView(APIView):
    authentication_classes = ()

    @extend_schema(
        summary="Online agents and stats", operation_id="api_agents_list", responses={200: AgentListResponseSerializer}
    )
    def get(self, request: Request) -> Response:
        agents = selectors.online_agents()
        body = {"agents": AgentPublicSerializer(agents, many=True).data, "stats": selectors.public_stats()}
        return Response({"success": True, **body})


class AgentDetailView(APIView):
    authentication_classes = ()

    @extend_schema(
        summary="One agent, by id or name",
        responses={200: AgentResponseSerializer, **error_responses(404, e404="agent_not_found")},
    )
    def get(self, request: Request, id_or_name: str) -> Response:
        agent = selectors.get_agent(id_or_name=id_or_name)
        return Response({"success": True, "agent": AgentPublicSerializer(agent).data})
