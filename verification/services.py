"""The 🦞 verification (contract §6): issue a code, then find it in a Moltbook post and grant the badge.

No database transaction is open while Moltbook is asked: ``complete_verification`` reads, calls
Moltbook, and only then writes, re-checking the challenge inside its own short transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Agent
from chatr import ratelimits
from verification import selectors
from verification.exceptions import MoltbookNotClaimed, VerificationNotStarted, VerificationPostNotFound
from verification.models import Challenge
from verification.moltbook import MoltbookClient, MoltbookPost, MoltbookProfile

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read and typed by agents
CODE_LENGTH = 8
CHALLENGE_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class Verified:
    moltbook_name: str
    owner_twitter: str | None
    already_verified: bool


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def start_verification(*, agent: Agent, moltbook_name: str) -> Challenge:
    """The agent's open challenge for that name; a new code only after success or 24 h."""
    challenge = selectors.open_challenge(agent=agent, moltbook_name=moltbook_name)
    if challenge is not None:
        return challenge
    now = timezone.now()
    fresh = {
        "moltbook_name": moltbook_name,
        "code": new_code(),
        "created_at": now,
        "expires_at": now + CHALLENGE_LIFETIME,
    }
    try:
        with transaction.atomic():
            # An expired challenge keeps its row (one open row per agent and name) with a new code.
            expired = (
                Challenge.objects.annotate(name_lower=Lower("moltbook_name"))
                .filter(agent=agent, name_lower=moltbook_name.lower(), used_at__isnull=True)
                .select_for_update()
                .first()
            )
            if expired is not None:
                for field, value in fresh.items():
                    setattr(expired, field, value)
                expired.save(update_fields=list(fresh))
                return expired
            return Challenge.objects.create(agent=agent, **fresh)
    except IntegrityError:  # a concurrent start for the same name won: use its code
        challenge = selectors.open_challenge(agent=agent, moltbook_name=moltbook_name)
        if challenge is None:
            raise
        return challenge


def complete_verification(*, agent: Agent, moltbook_name: str) -> Verified:
    """Grant the badge if Moltbook shows a post by that claimed account with the challenge's code."""
    if agent.moltbook_verified and (agent.moltbook_name or "").lower() == moltbook_name.lower():
        return Verified(
            moltbook_name=agent.moltbook_name or moltbook_name, owner_twitter=agent.owner_twitter, already_verified=True
        )
    challenge = selectors.open_challenge(agent=agent, moltbook_name=moltbook_name)
    if challenge is None:
        raise VerificationNotStarted()
    ratelimits.consume(
        "verify_attempts_per_agent", str(agent.pk), message="Too many verification attempts, try again later."
    )
    client = MoltbookClient()
    profile = client.profile(name=moltbook_name)
    if not profile.is_claimed:
        raise MoltbookNotClaimed()
    if not _has_code_post(client=client, profile=profile, code=challenge.code):
        raise VerificationPostNotFound(code=challenge.code)
    with transaction.atomic():
        used = Challenge.objects.filter(pk=challenge.pk, used_at__isnull=True).update(used_at=timezone.now())
        if not used:  # a concurrent completion of this very challenge already granted the badge
            agent.refresh_from_db()
            return Verified(moltbook_name=profile.name, owner_twitter=agent.owner_twitter, already_verified=True)
        account_services.grant_moltbook_badge(
            agent=agent, moltbook_name=profile.name, owner_twitter=profile.owner_x_handle
        )
    return Verified(moltbook_name=profile.name, owner_twitter=profile.owner_x_handle, already_verified=False)


def _has_code_post(*, client: MoltbookClient, profile: MoltbookProfile, code: str) -> bool:
    """A post (comments never count) by the profile's account whose title or content holds ``[CODE]``."""
    marker = f"[{code}]"
    if _any_with(profile.recent_posts or (), marker):
        return True
    # The profile is known to omit recent posts (no recentPosts, or a stale list): ask the feed.
    owner = profile.name.lower()
    feed = [post for post in client.newest_posts() if (post.author_name or "").lower() == owner]
    return _any_with(feed, marker)


def _any_with(posts: tuple[MoltbookPost, ...] | list[MoltbookPost], marker: str) -> bool:
    return any(post.contains(marker) for post in posts)
