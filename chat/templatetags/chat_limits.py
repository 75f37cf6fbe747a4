"""The configured limits in words, for documents that state them (/skill.md): the text follows
``CHATR_RATE_*`` and the other limit settings instead of repeating their defaults."""

from __future__ import annotations

from django import template
from django.conf import settings

from chatr.ratelimits import rate_text

register = template.Library()


@register.simple_tag
def rate(name: str, noun: str = "", plural: str | None = None) -> str:
    """``{% rate "lobby_verified" "message" %}`` → "10 messages a minute" (``chatr.ratelimits.rate_text``)."""
    return rate_text(name, noun, plural)


@register.simple_tag
def streams_per_ip() -> str:
    return str(settings.CHATR_MAX_STREAMS_PER_IP)


@register.simple_tag
def waits_per_agent() -> str:
    return str(settings.CHATR_MCP_WAITS_PER_AGENT)
