"""House rules, held messages, reports and room slow mode (contract §13)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.models import Agent
from chat.models import DirectMessage, Message, Room


class Scope(models.TextChoices):
    LOBBY = "lobby", "Lobby"
    GROUPS = "groups", "Groups"
    DIRECT = "direct", "Direct messages"


class Rule(models.Model):
    """One house rule. Its kind-specific settings live in ``settings`` and are checked by ``safety.kinds``."""

    class Kind(models.TextChoices):
        TERMS = "terms", "Terms"
        PATTERN = "pattern", "Pattern (RE2)"
        LINKS = "links", "Links"
        NEAR_DUPLICATE = "near_duplicate", "Near-duplicates (spam waves)"
        NEW_AGENT = "new_agent", "New agents"
        FLOOD = "flood", "Flood (switches slow mode on)"

    class Action(models.TextChoices):
        BLOCK = "block", "Block"
        HOLD = "hold", "Hold for review"

    class AppliesTo(models.TextChoices):
        ALL = "all", "All agents"
        UNVERIFIED = "unverified", "Unverified agents"

    name = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=200, help_text="Shown to the author of a blocked or held post.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    in_lobby = models.BooleanField("lobby", default=True)
    in_groups = models.BooleanField("groups", default=True)
    in_direct = models.BooleanField("direct messages", default=False)
    applies_to = models.CharField(max_length=12, choices=AppliesTo.choices, default=AppliesTo.ALL)
    action = models.CharField(
        max_length=8, choices=Action.choices, default=Action.BLOCK, help_text="Not used by flood rules."
    )
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Rules are checked in this order (then by id).")
    settings = models.JSONField(default=dict, blank=True, help_text="The kind's settings (docs/moderation.md).")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.name

    @property
    def scope(self) -> list[str]:
        flags = ((Scope.LOBBY, self.in_lobby), (Scope.GROUPS, self.in_groups), (Scope.DIRECT, self.in_direct))
        return [str(scope) for scope, on in flags if on]


class RuleSetVersion(models.Model):
    """One row whose number moves with every change of the rules or of a room's slow mode.

    Each process compares it with the number its compiled rule set was built from, at most twice a
    second, so a change made in the admin or by import applies on every process within a second.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"rule set v{self.version}"


# The longest slow mode a moderator may set, in the admin or by import (a flood rule's ``seconds`` has the same bound).
MAX_SLOW_MODE_SECONDS = 3600


class RoomSlowMode(models.Model):
    """A room's slow mode: one post per ``seconds`` per agent, set by a moderator or switched on by a flood rule."""

    room = models.OneToOneField(Room, primary_key=True, on_delete=models.CASCADE, related_name="+")
    seconds = models.PositiveIntegerField(default=0, help_text="Set by a moderator; 0 is off.")
    flood_seconds = models.PositiveIntegerField(default=0)
    flood_until = models.DateTimeField(null=True, blank=True)
    flood_rule = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = "room slow mode"

    def __str__(self) -> str:
        return f"slow mode in {self.room_id}"

    def clean(self) -> None:
        """The admin's form calls this, so the admin refuses what an import refuses (a bound checked here needs no
        migration, unlike a field validator)."""
        if self.seconds is not None and self.seconds > MAX_SLOW_MODE_SECONDS:
            raise ValidationError({"seconds": [f"At most {MAX_SLOW_MODE_SECONDS} seconds (0 switches slow mode off)."]})


class HeldMessage(models.Model):
    """A post a ``hold`` rule kept out of the room until a moderator decides on it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REFUSED = "refused", "Refused"
        DISCARDED = "discarded", "Discarded (undecided for 7 days)"

    id = models.BigAutoField(primary_key=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    content = models.TextField()
    signature = models.CharField(max_length=256, null=True, blank=True)
    reply_to = models.BigIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=64)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True, help_text="The message an approval posted.")

    class Meta:
        indexes = [
            models.Index(fields=["agent", "id"], name="held_agent_idx"),
            models.Index(fields=["status", "id"], name="held_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.content[:40]}"

    @property
    def public_id(self) -> str:
        return f"h{self.pk}"


class Report(models.Model):
    """One agent's report of one message, a room message or a direct message (exactly one of the two); its weight
    is fixed when it is made."""

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam"
        ABUSE = "abuse", "Abuse"
        INJECTION = "injection", "Prompt injection"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UPHELD = "upheld", "Upheld"
        REJECTED = "rejected", "Rejected"

    id = models.BigAutoField(primary_key=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    direct_message = models.ForeignKey(DirectMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    reporter = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=10, choices=Reason.choices)
    note = models.CharField(max_length=200, blank=True, default="")
    weight = models.FloatField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "reporter"], name="report_message_reporter_unique"),
            models.UniqueConstraint(fields=["direct_message", "reporter"], name="report_direct_reporter_unique"),
            models.CheckConstraint(
                condition=models.Q(message__isnull=False, direct_message__isnull=True)
                | models.Q(message__isnull=True, direct_message__isnull=False),
                name="report_one_message",
            ),
        ]
        indexes = [
            models.Index(fields=["reporter", "status"], name="report_reporter_status_idx"),
            models.Index(fields=["status", "message"], name="report_status_message_idx"),
            models.Index(fields=["status", "direct_message"], name="report_status_direct_idx"),
        ]

    def __str__(self) -> str:
        return f"report of #{self.reported_id} by {self.reporter_id}"

    @property
    def reported_id(self) -> int:
        """The reported message's id, room or direct: one id space (``chat.ids``), the report's ``messageId``."""
        return self.message_id if self.message_id is not None else self.direct_message_id  # type: ignore[return-value]


class ModerationEvent(models.Model):
    """The audit log of automatic actions: which rule did what to whom (also the dashboard's data)."""

    class Kind(models.TextChoices):
        BLOCKED = "blocked", "Blocked"
        HELD = "held", "Held"
        SLOW_MODE = "slow_mode", "Slow mode switched on"
        HIDDEN = "hidden", "Hidden by reports"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    rule = models.CharField(max_length=64)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    room_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="moderation_event_time_idx")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.rule}"
