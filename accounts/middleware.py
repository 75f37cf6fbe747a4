"""The request log line with the agent that authenticated (``chatr.middleware`` knows no agents)."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import Agent
from chatr.middleware import RequestLogMiddleware


class AgentRequestLogMiddleware(RequestLogMiddleware):
    """``chatr.middleware.RequestLogMiddleware`` whose line ends with ``agent=<id>`` for a request by key.

    A moderator signed in to the admin is a Django user, not an agent: their requests name no agent.
    """

    def agent_id(self, request: HttpRequest) -> object | None:
        agent = getattr(request, "user", None)
        return agent.pk if isinstance(agent, Agent) else None
