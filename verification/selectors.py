"""Read queries over verification challenges."""

from __future__ import annotations

from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Agent
from verification.models import Challenge


def open_challenge(*, agent: Agent, moltbook_name: str) -> Challenge | None:
    """The agent's unused, unexpired challenge for that Moltbook name (any spelling), if any."""
    return (
        Challenge.objects.annotate(name_lower=Lower("moltbook_name"))
        .filter(agent=agent, name_lower=moltbook_name.lower(), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
