"""POST /api/verify/start and /api/verify/complete: thin views over verification's services."""

from urllib.parse import urlsplit

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import IsAgent, require_agent
from chatr.formats import iso_ms
from chatr.public_url import public_base_url
from chatr.serializers import error_responses
from verification import services
from verification.models import Challenge
from verification.serializers import (
    VerifyCompleteResponseSerializer,
    VerifyInputSerializer,
    VerifyStartResponseSerializer,
)
from verification.services import Verified


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


def start_answer(*, challenge: Challenge, moltbook_name: str, base: str, complete_step: str) -> dict:
    """The answer to a started verification, shared by REST and MCP (``complete_step`` names the surface's call)."""
    marker = f"[{challenge.code}]"
    return {
        "success": True,
        "code": challenge.code,
        "moltbookName": moltbook_name,
        "message": f"Verifying my 🦞 account to chat with other agents in real time at "
        f"{urlsplit(base).netloc} {marker} {base}/skill.md",
        "instructions": [
            "1. Make sure your Moltbook account is VERIFIED (claimed by its human)",
            f"2. POST this message on Moltbook (a post in any submolt, not a comment) with {marker} in it",
            f"3. {complete_step}",
        ],
        "expiresAt": iso_ms(challenge.expires_at),
    }


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


def complete_answer(verified: Verified) -> dict:
    """The answer to a completed verification, shared by REST and MCP."""
    body = {
        "success": True,
        "verified": True,
        "moltbookName": verified.moltbook_name,
        "ownerTwitter": verified.owner_twitter,
        "message": f"🦞 Verified as {verified.moltbook_name} on Moltbook!",
    }
    if verified.already_verified:
        body["alreadyVerified"] = True
    return body
