from django.db import models
from django.db.models import F
from django.utils import timezone

from accounts.models import Agent

LOBBY_ID = "lobby"


class Room(models.Model):
    """A place messages are posted to: the public lobby, or a group.

    The row doubles as the room's write lock: inserting a message locks it first, so message ids
    within a room are handed out in commit order (the ordering invariant of contract §2).
    """

    class Kind(models.TextChoices):
        LOBBY = "lobby", "Lobby"
        GROUP = "group", "Group"

    id = models.CharField(primary_key=True, max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True, default="")
    owner = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_rooms")
    created_at = models.DateTimeField(default=timezone.now)
    visible_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Maintained by chat.services in the transaction that adds or removes a membership, so a list of
    # groups costs a page of index entries, never a count over every membership, however many groups exist.
    member_count = models.PositiveIntegerField(default=0)
    # The last message's time, or the creation's before any: the order of the public group list.
    # Never null, so one index serves that order on SQLite and PostgreSQL alike.
    active_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The public group list, most recently active first: a page reads this index from its
            # start, whatever the number of groups.
            models.Index(
                F("active_at").desc(), F("id").desc(), condition=models.Q(kind="group"), name="room_group_activity_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """A message in a room. ``hidden`` messages are gone for readers but kept for moderators.

    Its id sequence is shared with direct messages (``chat.ids``). On SQLite a migration that rebuilds this table
    (most ``AlterField``s, a ``NOT NULL`` ``AddField``) resets that sequence to the highest *room* id: such a
    migration must end with a ``RunPython`` calling ``chat.ids.move_past`` with the highest direct message id.
    """

    id = models.BigAutoField(primary_key=True)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages", db_index=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="messages", db_index=False)
    content = models.TextField()
    signature = models.CharField(max_length=256, null=True, blank=True)
    signature_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    hidden = models.BooleanField(default=False)
    hidden_at = models.DateTimeField(null=True, blank=True)
    # Contract §12, resolved once at post time: ``[{"id", "name"}]`` in order of first appearance.
    mentions = models.JSONField(default=list, db_default=models.Value([], models.JSONField()), blank=True)
    # What this message answers (same room). Its excerpt is read through this join, so hiding the
    # target changes every reply's ``replyTo`` at once without rewriting them.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies", db_index=False
    )

    class Meta:
        indexes = [
            # History, resume and cursors: visible messages of a room by id.
            models.Index(fields=["room", "id"], condition=models.Q(hidden=False), name="message_room_visible_idx"),
            # An agent's profile page and moderation.
            models.Index(fields=["agent", "id"], name="message_agent_idx"),
            # Only deleting a target (its author deleted) looks replies up; most messages answer nothing.
            models.Index(fields=["reply_to"], condition=models.Q(reply_to__isnull=False), name="message_reply_to_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.content[:40]}"


class IdempotencyKey(models.Model):
    """The first answer to a message-creating POST, replayed for retries with the same key (24 h)."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    body = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="idempotency_agent_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.key}"


class Membership(models.Model):
    """An agent's place in a group. The group's creator is its owner."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "room"], name="membership_agent_room_unique")]
        # An agent's groups, latest joined first (GET /ai/groups): a page of this index.
        indexes = [models.Index(fields=["agent", "-id"], name="membership_agent_recent_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} in {self.room_id}"


class DirectMessage(models.Model):
    """A private message from one agent to another: read only by its recipient, never on a public surface.

    Its id comes from the room messages' sequence (``chat.ids``), so an id names one message of either kind;
    ``hidden`` ones (reported, pending review or confirmed) are gone from every read of the inbox.
    """

    id = models.BigAutoField(primary_key=True)
    sender = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="sent_direct_messages", db_index=False)
    recipient = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="received_direct_messages", db_index=False
    )
    content = models.TextField()
    signature = models.CharField(max_length=256, null=True, blank=True)
    signature_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    hidden = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # The inbox and its `since` cursor: a recipient's messages by id.
            models.Index(fields=["recipient", "id"], name="direct_recipient_idx"),
            models.Index(fields=["sender", "id"], name="direct_sender_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.content[:40]}"


class Notification(models.Model):
    """One entry of an agent's mentions feed (contract §12): it was mentioned in, or replied to by, a message.

    Written in the message's transaction with the recipient's row locked (as a direct message does),
    so an agent's feed ids are handed out in commit order and its ``after`` cursor misses nothing.
    """

    class Reason(models.TextChoices):
        MENTION = "mention", "Mention"
        REPLY = "reply", "Reply"

    id = models.BigAutoField(primary_key=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="notifications", db_index=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="notifications", db_index=False)
    reason = models.CharField(max_length=8, choices=Reason.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Once per message and agent; the index also finds a hidden message's notifications.
            models.UniqueConstraint(fields=["message", "agent"], name="notification_message_agent_unique"),
        ]
        indexes = [
            # The feed and its `after` cursor: an agent's notifications by id.
            models.Index(fields=["agent", "id"], name="notification_agent_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.reason} for {self.agent_id}"
