"""The agent a request authenticated as, for the request log line (``chatr.edge`` knows no agents)."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import Agent


def request_agent_id(request: HttpRequest) -> object | None:
    """The id of the agent that authenticated by key, else ``None``.

    A moderator signed in to the admin is a Django user, not an agent: their requests name no agent. DRF keeps
    the agent on its own request object, which it also sets on Django's.
    """
    agent = getattr(request, "user", None)
    return agent.pk if isinstance(agent, Agent) else None
