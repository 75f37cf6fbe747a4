"""``Authorization: Bearer <apiKey>``, or the legacy ``X-API-Key`` header (contract §1)."""

from __future__ import annotations

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts import selectors, services
from accounts.exceptions import AgentBanned
from accounts.models import Agent
from chatr import ratelimits
from chatr.errors import NotAuthenticated


def presented_key(request: HttpRequest) -> str | None:
    """The key the client sent, ``""`` for a malformed header, ``None`` for no header at all."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is not None:
        scheme, _, key = header.strip().partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""
    legacy = request.META.get("HTTP_X_API_KEY")
    return legacy.strip() if legacy is not None else None


def authenticate_key(api_key: str | None) -> Agent:
    """The agent for a presented key, marked as seen; 401 for a missing or unknown key, 403 if banned."""
    agent = selectors.agent_for_api_key(api_key) if api_key else None
    if agent is None:
        raise NotAuthenticated()
    if agent.is_banned:
        raise AgentBanned()
    services.mark_seen(agent=agent)
    return agent


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Agent, str] | None:
        api_key = presented_key(request._request)
        if api_key is None:
            return None
        return authenticate_key(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="chatr"'


def require_agent(request: Request) -> Agent:
    """The authenticated agent of a DRF request, or the contract's 401."""
    agent = request.user
    if not isinstance(agent, Agent):
        raise NotAuthenticated()
    return agent


class IsAgent(BasePermission):
    """Allows authenticated agents only; anything else is the contract's 401."""

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.user, Agent)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """How /api/schema/ describes ``ApiKeyAuthentication``."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer chatr_… (the legacy header X-API-Key: chatr_… works too).",
        }


class AgentRequestThrottle(BaseThrottle):
    """Counts one request of the authenticated agent against ``rate_name``; 429 when it is over.

    Raises ``RateLimited`` itself rather than answering False, so the 429 carries ``retry_after``
    and the ``X-RateLimit-*`` headers like every other limit.
    """

    rate_name = "ai_requests_per_agent"

    def allow_request(self, request: Request, view: object) -> bool:
        if isinstance(request.user, Agent):
            ratelimits.consume(self.rate_name, str(request.user.pk))
        return True
