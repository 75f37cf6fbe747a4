"""The house-rule check every post passes before it is stored (contract §13), reached through a setting.

chat does not know the house rules: ``settings.CHATR_POST_CHECK`` names the function that applies them
(the trust-and-safety app's), so chat imports nothing of it. That function blocks a post by raising a
domain error, holds it by raising ``PostHeld`` (``create_once`` answers 202), applies slow mode, and
calls ``spend_allowance`` — the post's rate limit — only for a post it lets through or holds, so a
blocked post uses none of the author's allowance.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.models import Agent


@dataclass(frozen=True)
class Post:
    """A post as the house rules see it, before it is stored; ``room_id`` is None for a direct message."""

    agent: Agent
    scope: str  # "lobby", "groups" or "direct"
    content: str
    room_id: str | None = None
    recipient_id: uuid.UUID | None = None
    mentions: int = 0
    signature: str | None = None
    reply_to: int | None = None


@cache
def _check(path: str) -> Callable[..., None]:
    return import_string(path)


def safety_check(*, post: Post, spend_allowance: Callable[[], None]) -> None:
    """Apply the house rules to ``post``; raises if it is blocked, held or slowed, else spends its allowance."""
    path = getattr(settings, "CHATR_POST_CHECK", "")
    if not path:
        spend_allowance()
        return
    _check(path)(post=post, spend_allowance=spend_allowance)
