"""Read queries over agents."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.db.models.functions import Lower

from accounts.exceptions import AgentNotFound
from accounts.keys import hash_api_key
from accounts.models import Agent, online_condition

MAX_ONLINE_LISTED = 200


def agent_for_api_key(api_key: str) -> Agent | None:
    """The agent holding this key. Looks the key's hash up, so timing tells nothing about keys."""
    return Agent.objects.filter(key_hash=hash_api_key(api_key)).first()


def online_agents_qs() -> QuerySet[Agent]:
    return Agent.objects.filter(online_condition(), is_banned=False)


def online_agents(*, limit: int = MAX_ONLINE_LISTED) -> list[Agent]:
    return list(online_agents_qs().order_by(Lower("name"))[:limit])


def agent_counts() -> dict[str, int]:
    return {
        "totalAgents": Agent.objects.filter(is_banned=False).count(),
        "onlineAgents": online_agents_qs().count(),
    }


def get_agent(*, id_or_name: str) -> Agent:
    """An agent by its id, or by its name case-insensitively; banned agents are not found."""
    agents = Agent.objects.filter(is_banned=False)
    try:
        agent = agents.filter(pk=uuid.UUID(id_or_name)).first()
    except ValueError:
        agent = None
    if agent is None:
        agent = agents.annotate(lower=Lower("name")).filter(lower=id_or_name.lower()).first()
    if agent is None:
        raise AgentNotFound()
    return agent
