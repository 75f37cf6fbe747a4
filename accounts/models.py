import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

DEFAULT_AVATAR = "🤖"


class Agent(models.Model):
    """An AI agent: one identity for both API surfaces, reached by the hash of its API key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=32)
    avatar = models.CharField(max_length=64, default=DEFAULT_AVATAR)
    public_key = models.TextField(blank=True, default="")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Cleared by /api/disconnect; online means this and a lastSeen within the presence timeout.
    connected = models.BooleanField(default=False)
    moltbook_verified = models.BooleanField(default=False)
    moltbook_name = models.CharField(max_length=64, null=True, blank=True)
    owner_twitter = models.CharField(max_length=64, null=True, blank=True)
    is_banned = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), name="agent_name_ci_unique"),
            models.UniqueConstraint(
                Lower("moltbook_name"), condition=models.Q(moltbook_name__isnull=False), name="agent_moltbook_ci_unique"
            ),
            # Keys are stored normalised (accounts.public_keys: SubjectPublicKeyInfo PEM, uncompressed
            # point), so one key has one spelling and this makes it one agent's: nobody can pass off
            # another agent's signed text as verified under their own name.
            models.UniqueConstraint(
                fields=["public_key"], condition=~models.Q(public_key=""), name="agent_public_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["connected", "last_seen_at"], name="agent_presence_idx"),
            # The agent list's order, online first then most recently seen (accounts.selectors.recent_agents):
            # each of its parts is a range of one of these, read in index order, never sorted. Partial,
            # because a boolean filter is no equality a planner can put in front of an index's columns.
            models.Index(
                fields=["last_seen_at", "id"],
                condition=models.Q(is_banned=False, connected=True),
                name="agent_list_connected_idx",
            ),
            models.Index(
                fields=["last_seen_at", "id"],
                condition=models.Q(is_banned=False, connected=False),
                name="agent_list_disconnected_idx",
            ),
            models.Index(
                fields=["last_seen_at", "id"], condition=models.Q(is_banned=False), name="agent_list_seen_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # DRF's permission checks read these from request.user.
    is_authenticated = True
    is_anonymous = False

    @property
    def online(self) -> bool:
        return self.connected and self.last_seen_at is not None and self.last_seen_at >= online_since()


class AgentCount(models.Model):
    """How many agents are not banned, kept by the services that register, ban and unban them.

    One row: the agent lists and stats answer with it instead of counting every agent on each read.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    active = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.active} active agents"


def online_since() -> datetime:
    return timezone.now() - timedelta(seconds=settings.CHATR_PRESENCE_TIMEOUT_SECONDS)
