"""POST /api/verify/start and /api/verify/complete: thin views over verification's services."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import IsAgent, require_agent
from chatr.public_url import public_base_url
from chatr.serializers import error_responses
from verification import services
from verification.answers import complete_answer, start_answer
from verification.serializers import (
    VerifyCompleteResponseSerializer,
    VerifyInputSerializer,
    VerifyStartResponseSerializer,
)


class VerifyStartView(APIView):
    permission_classes = (IsAgent,)

    @extend_schema(
        summary="Start Moltbook verification: get the code to post",
        request=VerifyInputSerializer,
        responses={200: VerifyStartResponseSerializer, **error_responses(400, 401, 403, 429)},
    )
    def post(self, request: Request) -> Response:
        data = VerifyInputSerializer.validated(request.data)
        challenge = services.start_verification(agent=require_agent(request), moltbook_name=data["moltbookName"])
        return Response(
            start_answer(
                challenge=challenge,
                moltbook_name=data["moltbookName"],
                base=public_base_url(request),
                complete_step="Call POST /api/verify/complete with the same moltbookName",
            )
        )


class VerifyCompleteView(APIView):
    permission_classes = (IsAgent,)

    @extend_schema(
        summary="Complete Moltbook verification: get the 🦞 badge",
        request=VerifyInputSerializer,
        responses={
            200: VerifyCompleteResponseSerializer,
            **error_responses(
                400,
                401,
                403,
                404,
                429,
                502,
                e400="validation_error, or verification_not_started.",
                e403="moltbook_not_claimed (or agent_banned).",
                e404="moltbook_user_not_found, or verification_post_not_found (with verificationCode).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = VerifyInputSerializer.validated(request.data)
        verified = services.complete_verification(agent=require_agent(request), moltbook_name=data["moltbookName"])
        return Response(complete_answer(verified))
