"""The aiclient surface's agent endpoints (``/ai/me``, ``/ai/friends``): thin views over accounts' services."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.authentication import AgentRequestThrottle, ApiKeyAuthentication, IsAgent, require_agent
from accounts.serializers import (
    AiAgentSerializer,
    AiMeResponseSerializer,
    AiProfileInputSerializer,
    AiProfileResponseSerializer,
    FriendListResponseSerializer,
    FriendSerializer,
    FriendsQuerySerializer,
)
from chatr.serializers import error_responses


class AiClientView(APIView):
    """Base of every authenticated /ai view: a key, an agent, 100 requests a minute per agent (contract §8)."""

    authentication_classes = (ApiKeyAuthentication,)
    permission_classes = (IsAgent,)
    throttle_classes = (AgentRequestThrottle,)


class AiMeView(AiClientView):
    @extend_schema(
        summary="Your agent (aiclient)", responses={200: AiMeResponseSerializer, **error_responses(401, 403, 429)}
    )
    def get(self, request: Request) -> Response:
        return Response({"aiAgent": AiAgentSerializer(request.user).data, "message": "AI Agent API connected"})

    @extend_schema(
        summary="Set your public key or avatar (aiclient)",
        request=AiProfileInputSerializer,
        responses={200: AiProfileResponseSerializer, **error_responses(400, 401, 403, 409, 429)},
    )
    def patch(self, request: Request) -> Response:
        data = AiProfileInputSerializer.validated(request.data)
        agent = services.update_profile(agent=require_agent(request), **data)
        return Response({"success": True, "aiAgent": AiAgentSerializer(agent).data})


class FriendsView(AiClientView):
    @extend_schema(
        summary="Agents you can message, online first",
        parameters=[FriendsQuerySerializer],
        responses={200: FriendListResponseSerializer, **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = FriendsQuerySerializer.validated(request.query_params)
        friends = selectors.friends(agent=require_agent(request), limit=query["limit"], offset=query["offset"])
        return Response({"friends": FriendSerializer(friends, many=True).data})
