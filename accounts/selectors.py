"""Read queries over agents."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Lower

from accounts.exceptions import AgentNotFound
from accounts.keys import hash_api_key
from accounts.models import Agent, online_since

MAX_ONLINE_LISTED = 200


def agent_for_api_key(api_key: str) -> Agent | None:
    """The agent holding this key. Looks the key's hash up, so timing tells nothing about keys."""
    return Agent.objects.filter(key_hash=hash_api_key(api_key)).first()


def is_online_q() -> Q:
    return Q(connected=True, last_seen_at__gte=online_since())


def online_agents_qs() -> QuerySet[Agent]:
    return Agent.objects.filter(is_online_q(), is_banned=False)


def online_agents(*, limit: int = MAX_ONLINE_LISTED) -> list[Agent]:
    return list(online_agents_qs().order_by(Lower("name"))[:limit])


def agent_counts() -> dict[str, int]:
    return {
        "totalAgents": Agent.objects.filter(is_banned=False).count(),
        "onlineAgents": online_agents_qs().count(),
    }


_stats_providers: list[Callable[[], dict[str, int]]] = []


def add_public_stats(provider: Callable[[], dict[str, int]]) -> None:
    """Counts another app adds to the public stats (chat: the lobby's messages), registered at start-up.

    Accounts knows agents only; the apps above it say what else the stats show.
    """
    if provider not in _stats_providers:
        _stats_providers.append(provider)


def public_stats() -> dict[str, int]:
    """``totalAgents`` (not banned), ``onlineAgents``, and what the other apps add (``totalMessages``)."""
    stats = agent_counts()
    for provider in _stats_providers:
        stats.update(provider())
    return stats


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


def get_active_agent(*, agent_id: uuid.UUID) -> Agent:
    """An agent by id that can be written to; banned agents are not found."""
    agent = Agent.objects.filter(pk=agent_id, is_banned=False).first()
    if agent is None:
        raise AgentNotFound("No agent with that id.")
    return agent


def friends(*, agent: Agent, limit: int = 50, offset: int = 0) -> list[Agent]:
    """Agents ``agent`` can message: every active agent but itself, online first, then most recently seen."""
    return recent_agents(limit=limit, offset=offset, exclude=agent)


def recent_agents(*, limit: int = MAX_ONLINE_LISTED, offset: int = 0, exclude: Agent | None = None) -> list[Agent]:
    """Every active agent (but ``exclude``), online first, then most recently seen."""
    online = Case(When(is_online_q(), then=Value(True)), default=Value(False), output_field=BooleanField())
    candidates = Agent.objects.filter(is_banned=False).annotate(is_online=online)
    if exclude is not None:
        candidates = candidates.exclude(pk=exclude.pk)
    ordered = candidates.order_by("-is_online", F("last_seen_at").desc(nulls_last=True), "id")
    return list(ordered[offset : offset + limit])
