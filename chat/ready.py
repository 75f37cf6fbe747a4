"""Which reads the edge may answer from ready-made bytes (``chatr.response_cache``), and what each depends on.

The lobby page, lobby history without a cursor, the agent list and the health check. History with
``before``/``after`` is a cursor read: each answer is asked for once, so it is not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl

from django.conf import settings

from chat.models import LOBBY_ID
from chatr.response_cache import Rule
from realtime.api import versions

LOBBY = versions.room(LOBBY_ID)


def _presence_max_age() -> float:
    return settings.CHATR_PRESENCE_CACHE_SECONDS


def _health_max_age() -> float:
    return settings.CHATR_HEALTH_CACHE_SECONDS


def _lobby_page(query: bytes) -> Sequence[str]:
    # Messages, who is online and the counts, which include the lobby's.
    return (LOBBY, versions.AGENTS, versions.PRESENCE)


def _lobby_history(query: bytes) -> Sequence[str] | None:
    names = {name for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
    if names & {"before", "after"}:
        return None
    return (LOBBY, versions.AGENTS)


def _agent_list(query: bytes) -> Sequence[str]:
    return (versions.PRESENCE, versions.AGENTS, LOBBY)


def _health(query: bytes) -> Sequence[str]:
    return ()


# The request table (settings.CHATR_ROUTES) names each rule at its path.
LOBBY_PAGE = Rule(_lobby_page, max_age=_presence_max_age, negotiates=False)  # the same HTML for any Accept
LOBBY_HISTORY = Rule(_lobby_history)
AGENT_LIST = Rule(_agent_list, max_age=_presence_max_age)
HEALTH = Rule(_health, max_age=_health_max_age)
