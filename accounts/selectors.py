"""Read queries over agents."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from accounts.exceptions import AgentNotFound
from accounts.keys import hash_api_key
from accounts.models import Agent, AgentCount, online_since

MAX_ONLINE_LISTED = 200
MAX_OFFSET = 10_000  # how deep a list of agents pages: each page reads at most offset + limit rows


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
    """``totalAgents`` from the maintained counter; ``onlineAgents`` a range of the presence index."""
    total = AgentCount.objects.filter(pk=1).values_list("active", flat=True).first()
    if total is None:  # a database emptied without its migrations (tests' flush): counted once, not kept
        total = Agent.objects.filter(is_banned=False).count()
    return {"totalAgents": total, "onlineAgents": online_agents_qs().count()}


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
    """Every active agent (but ``exclude``), online first, then most recently seen, never seen last.

    Online-ness depends on the clock, so no single column orders it; the list is four consecutive
    ranges instead — online; disconnected but seen within the presence timeout; seen before it; never
    seen — each read in the order of an index (``agent_list_*_idx``).
    A page reads at most ``offset + limit`` rows of them, whatever the table holds.
    """
    return page_across(agent_list_parts(exclude=exclude), offset=offset, limit=limit)


def agent_list_parts(*, exclude: Agent | None = None) -> list[QuerySet[Agent]]:
    """The agent list's four ranges, in list order, each ordered as an index stores it."""
    cutoff = online_since()
    active = Agent.objects.filter(is_banned=False)
    if exclude is not None:
        active = active.exclude(pk=exclude.pk)
    latest_first = ("-last_seen_at", "-id")
    return [
        active.filter(connected=True, last_seen_at__gte=cutoff).order_by(*latest_first),
        active.filter(connected=False, last_seen_at__gte=cutoff).order_by(*latest_first),
        active.filter(last_seen_at__lt=cutoff).order_by(*latest_first),
        active.filter(last_seen_at__isnull=True).order_by("id"),
    ]


def page_across(parts: list[QuerySet[Agent]], *, offset: int, limit: int) -> list[Agent]:
    """``limit`` rows from ``offset`` of the querysets taken one after another.

    A part the offset passes entirely is counted up to the offset only (``COUNT`` over ``LIMIT``), so
    no part is ever read further than ``offset + limit`` rows.
    """
    page: list[Agent] = []
    for part in parts:
        wanted = limit - len(page)
        if wanted <= 0:
            break
        rows = list(part[offset : offset + wanted])
        if rows:
            page.extend(rows)
            offset = 0
        elif offset:
            offset -= part[:offset].count()
    return page
