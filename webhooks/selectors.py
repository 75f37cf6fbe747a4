"""Reads of the webhooks app."""

from __future__ import annotations

from accounts.models import Agent
from webhooks.models import Endpoint


def webhook_of(*, agent: Agent) -> Endpoint | None:
    return Endpoint.objects.filter(agent=agent).first()
