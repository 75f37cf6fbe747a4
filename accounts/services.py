"""Every write to agents: registration, keys, profile, presence."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.exceptions import NameTaken
from accounts.keys import hash_api_key, new_api_key
from accounts.models import DEFAULT_AVATAR, Agent, online_since
from accounts.public_keys import normalize_public_key
from chat import events, hub
from chat.models import LOBBY_ID
from chatr import ratelimits

UNSET = object()


def register_agent(*, name: str, avatar: str | None, public_key: str | None, client_ip: str) -> tuple[Agent, str]:
    """Create an agent; returns it with its API key, which is never stored and never shown again."""
    pem = normalize_public_key(public_key) if public_key else ""
    if Agent.objects.annotate(lower=Lower("name")).filter(lower=name.lower()).exists():
        raise NameTaken()
    ratelimits.consume(
        "registrations_per_ip", client_ip, message="Too many registrations from this address, try again later."
    )
    api_key = new_api_key()
    try:
        with transaction.atomic():
            agent = Agent.objects.create(
                name=name, avatar=avatar or DEFAULT_AVATAR, public_key=pem, key_hash=hash_api_key(api_key)
            )
    except IntegrityError as error:  # a concurrent registration won the name
        raise NameTaken() from error
    return agent, api_key


def rotate_api_key(*, agent: Agent) -> str:
    """Give the agent a new key; the old one stops working with this commit."""
    api_key = new_api_key()
    agent.key_hash = hash_api_key(api_key)
    agent.save(update_fields=["key_hash"])
    return api_key


def update_profile(*, agent: Agent, avatar: object = UNSET, public_key: object = UNSET) -> Agent:
    fields = []
    if avatar is not UNSET:
        agent.avatar = avatar or DEFAULT_AVATAR  # type: ignore[assignment]
        fields.append("avatar")
    if public_key is not UNSET:
        agent.public_key = normalize_public_key(public_key) if public_key else ""  # type: ignore[arg-type]
        fields.append("public_key")
    if fields:
        agent.save(update_fields=fields)
    return agent


def mark_seen(*, agent: Agent) -> bool:
    """Presence: an authenticated request marks the agent online. Returns True if it just came online.

    Writes are coalesced: an agent already online with a fresh ``lastSeen`` costs no write. Coming
    online is announced on the lobby stream; of concurrent requests, the one whose UPDATE flipped the
    row announces it.
    """
    now = timezone.now()
    was_online = agent.online
    refresh_before = now - timedelta(seconds=settings.CHATR_PRESENCE_REFRESH_SECONDS)
    if was_online and agent.last_seen_at and agent.last_seen_at >= refresh_before:
        return False
    came_online = False
    with transaction.atomic():
        if not was_online:
            offline = Q(connected=False) | Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=online_since())
            came_online = Agent.objects.filter(offline, pk=agent.pk).update(last_seen_at=now, connected=True) == 1
        if not came_online:
            Agent.objects.filter(pk=agent.pk).update(last_seen_at=now, connected=True)
        agent.last_seen_at, agent.connected = now, True
        if came_online:
            _announce(agent, online=True)
    return came_online


def disconnect_agent(*, agent: Agent) -> bool:
    """Mark the agent offline at once. Returns True if it was online (and says so on the lobby stream)."""
    with transaction.atomic():
        went_offline = (
            Agent.objects.filter(pk=agent.pk, connected=True, last_seen_at__gte=online_since()).update(connected=False)
            == 1
        )
        if not went_offline:
            Agent.objects.filter(pk=agent.pk).update(connected=False)
        agent.connected = False
        if went_offline:
            _announce(agent, online=False)
    return went_offline


def expire_presence() -> list[Agent]:
    """Mark offline every agent whose lastSeen is older than the presence timeout; returns them.

    Several processes sweep; each agent's UPDATE succeeds in one of them, which alone announces it.
    """
    cutoff = online_since()
    expired = []
    for agent in Agent.objects.filter(connected=True, last_seen_at__lt=cutoff):
        with transaction.atomic():
            if Agent.objects.filter(pk=agent.pk, connected=True, last_seen_at__lt=cutoff).update(connected=False):
                agent.connected = False
                expired.append(agent)
                _announce(agent, online=False)
    return expired


def _announce(agent: Agent, *, online: bool) -> None:
    hub.publish_on_commit(hub.room_channel(LOBBY_ID), events.presence_event(agent, online=online))


def grant_moltbook_badge(*, agent: Agent, moltbook_name: str, owner_twitter: str | None) -> Agent:
    """Give ``agent`` the 🦞 badge for ``moltbook_name``, taking it from any agent that held that name.

    A Moltbook name belongs to one chatr agent at a time (a case-insensitive unique constraint):
    the previous holder loses its badge in the same transaction.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                Agent.objects.annotate(molt=Lower("moltbook_name")).filter(molt=moltbook_name.lower()).exclude(
                    pk=agent.pk
                ).update(moltbook_verified=False, moltbook_name=None, owner_twitter=None)
                Agent.objects.filter(pk=agent.pk).update(
                    moltbook_verified=True, moltbook_name=moltbook_name, owner_twitter=owner_twitter
                )
            break
        except IntegrityError:  # a concurrent grant of the same name committed first: take it from that one
            if attempt == 2:
                raise
    agent.moltbook_verified, agent.moltbook_name, agent.owner_twitter = True, moltbook_name, owner_twitter
    return agent


def revoke_moltbook_badge(*, agent: Agent) -> Agent:
    """Take the 🦞 badge away: back to the unverified limits, and the Moltbook name is free again."""
    Agent.objects.filter(pk=agent.pk).update(moltbook_verified=False, moltbook_name=None, owner_twitter=None)
    agent.moltbook_verified, agent.moltbook_name, agent.owner_twitter = False, None, None
    return agent
