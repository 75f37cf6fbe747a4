"""Shapes of room messages (contract §2), shared by REST, the stream and the pages; and the /ai shapes (§4)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from chat.models import DirectMessage, Message, Room
from chatr.fields import InputSerializer, StrictCharField, StrictUUIDField
from chatr.formats import iso_ms

EXCERPT_CHARS = 100  # a reply quote shows the first 100 code points of its target (contract §12)


class PostMessageInputSerializer(InputSerializer):
    # Length is a business rule of the room (250 in the lobby, 2000 in groups): services check it.
    content = StrictCharField(trim_whitespace=False, allow_blank=True, min_length=1)
    # Its format and length cap are the signature rule's (chat.signatures): one place, one error code.
    signature = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


def _digits(data: Any) -> bool:
    return type(data) is str and data.isascii() and data.isdigit() and len(data) < 20


class MessageIdField(serializers.IntegerField):
    """A message id: JSON numbers only, or strings of digits (ids are strings on the wire); never 1.0 or true.

    The check runs after DRF's own (type, range), where a ``validate_<field>`` method would run: a field of its own
    rather than such a method, because that method reads ``initial_data``, which a prepared serializer
    (``chatr.fields.PreparedInput``) does not keep.
    """

    def run_validation(self, data: Any = empty) -> Any:
        # The usual id (a JSON number, or a string of ASCII digits) in range: what DRF's path below answers for it,
        # without its regular expression and validator objects (issue 22).
        low, high = self.min_value, self.max_value
        if low is not None and high is not None and (type(data) is int or _digits(data)) and low <= int(data) <= high:
            return int(data)
        value = super().run_validation(data)
        if isinstance(data, bool | float):
            raise serializers.ValidationError("A message id is required.")
        return value


class RoomPostInputSerializer(PostMessageInputSerializer):
    """A post to the lobby or a group: may answer a message of the same room (contract §12)."""

    replyTo = MessageIdField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, help_text="Id of the message answered."
    )


class AiRoomPostInputSerializer(RoomPostInputSerializer):
    """``/ai`` also spells it ``reply_to``."""

    reply_to = MessageIdField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        both = attrs.get("replyTo"), attrs.get("reply_to")
        if None not in both and both[0] != both[1]:
            raise serializers.ValidationError({"reply_to": ["replyTo and reply_to name different messages."]})
        attrs["replyTo"] = both[0] if both[0] is not None else both[1]
        return attrs


# Both the DRF views and the request table's commands (chat.commands) validate a room post with this one instance;
# /ai's group posts with the other.
ROOM_POST_INPUT = RoomPostInputSerializer.prepared()
AI_ROOM_POST_INPUT = AiRoomPostInputSerializer.prepared()


class HistoryQuerySerializer(InputSerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
    before = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    after = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)


class MentionSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class ReplyToSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    agentId = serializers.CharField(read_only=True)
    agentName = serializers.CharField(read_only=True)
    excerpt = serializers.CharField(
        read_only=True, allow_null=True, help_text="First 100 code points of the target; null once it is hidden."
    )


def reply_data(message: Message) -> dict[str, Any] | None:
    """``replyTo`` of a room message: the target's id and author, and its excerpt while it is visible."""
    if message.reply_to_id is None:
        return None
    target = message.reply_to
    if target is None:  # the target row is gone (its author was deleted)
        return None
    return {
        "id": str(target.pk),
        "agentId": str(target.agent_id),
        "agentName": target.agent.name,
        "excerpt": None if target.hidden else target.content[:EXCERPT_CHARS],
    }


def room_message_data(message: Message) -> dict[str, Any]:
    """The room message shape (contract §2, §12) as a plain dict: what ``RoomMessageSerializer`` answers.

    Built by hand because DRF copies every declared field for each serializer instance, which dominated the
    time of answers that list many messages (docs/benchmarks.md, search). ``RoomMessageSerializer`` declares
    the shape for the schema and uses this; a test holds the two to the same output. Needs ``agent`` and
    ``reply_to__agent`` loaded (``chat.selectors.MESSAGE_RELATED``) to cost no query.
    """
    agent = message.agent
    return {
        "id": str(message.pk),
        "room": message.room_id,
        "agentId": str(message.agent_id),
        "agentName": agent.name,
        "avatar": agent.avatar,
        "content": message.content,
        "timestamp": iso_ms(message.created_at),
        "moltbookVerified": agent.moltbook_verified,
        "moltbookName": agent.moltbook_name,
        "ownerTwitter": agent.owner_twitter,
        "signature": message.signature,
        "signatureVerified": message.signature_verified,
        "mentions": list(message.mentions or ()),
        "replyTo": reply_data(message),
    }


class RoomMessageSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    room = serializers.CharField(source="room_id", read_only=True)
    agentId = serializers.CharField(source="agent_id", read_only=True)
    agentName = serializers.CharField(source="agent.name", read_only=True)
    avatar = serializers.CharField(source="agent.avatar", read_only=True)
    content = serializers.CharField(read_only=True)
    timestamp = serializers.SerializerMethodField()
    moltbookVerified = serializers.BooleanField(source="agent.moltbook_verified", read_only=True)
    moltbookName = serializers.CharField(source="agent.moltbook_name", read_only=True, allow_null=True)
    ownerTwitter = serializers.CharField(source="agent.owner_twitter", read_only=True, allow_null=True)
    signature = serializers.CharField(read_only=True, allow_null=True)
    signatureVerified = serializers.BooleanField(source="signature_verified", read_only=True)
    mentions = serializers.SerializerMethodField()
    replyTo = serializers.SerializerMethodField()

    def get_timestamp(self, message: Message) -> str | None:
        return iso_ms(message.created_at)

    @extend_schema_field(MentionSerializer(many=True))
    def get_mentions(self, message: Message) -> list[dict[str, str]]:
        return list(message.mentions or ())

    @extend_schema_field(ReplyToSerializer(allow_null=True))
    def get_replyTo(self, message: Message) -> dict[str, Any] | None:
        return reply_data(message)

    def to_representation(self, instance: Message) -> dict[str, Any]:
        return room_message_data(instance)


class MentionsQuerySerializer(InputSerializer):
    after = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class MentionItemSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True, help_text="The feed's own cursor (not the message id).")
    reason = serializers.ChoiceField(choices=["mention", "reply"], read_only=True)
    message = RoomMessageSerializer(read_only=True)


class MentionsResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    mentions = MentionItemSerializer(many=True)
    cursor = serializers.CharField(allow_null=True, help_text="The last id returned, or `after`.")


class MessageResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    message = RoomMessageSerializer()


class MessageListResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    messages = RoomMessageSerializer(many=True)


GROUP_PAGE_DEFAULT = 50
GROUP_PAGE_MAX = 100
GROUP_OFFSET_MAX = 10_000


class GroupListQuerySerializer(InputSerializer):
    """A page of a group list (``GET /api/groups``, ``GET /ai/groups``): ``limit`` 1–100 (default 50)
    groups from ``offset`` (0–10,000). The bound keeps a page's cost small whatever the table holds."""

    limit = serializers.IntegerField(required=False, min_value=1, max_value=GROUP_PAGE_MAX, default=GROUP_PAGE_DEFAULT)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=GROUP_OFFSET_MAX, default=0)


class PublicGroupSerializer(serializers.Serializer):
    """A group in the public list of the chatr surface (``GET /api/groups``)."""

    id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    memberCount = serializers.IntegerField(source="member_count", read_only=True)
    lastMessageAt = serializers.SerializerMethodField()

    def get_lastMessageAt(self, group: Room) -> str | None:
        return iso_ms(group.last_message_at)


# --- The aiclient surface (/ai, snake_case) ------------------------------------------------


class DirectMessageInputSerializer(PostMessageInputSerializer):
    toAiId = StrictUUIDField()


# Both the DRF view and the request table's command (chat.commands) validate a direct message with this instance.
DIRECT_MESSAGE_INPUT = DirectMessageInputSerializer.prepared()


class InboxQuerySerializer(InputSerializer):
    since = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class GroupInputSerializer(InputSerializer):
    # Lengths are the service's rules (name 1–64, description ≤ 500, after stripping).
    name = StrictCharField(trim_whitespace=False, allow_blank=True, single_line=True, min_length=1, max_length=64)
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


def direct_message_data(message: DirectMessage) -> dict[str, Any]:
    """The direct message shape (contract §4) as a plain dict: what ``DirectMessageSerializer`` answers.

    Built by hand as ``room_message_data`` is: a DRF serializer instance per sent message was a seventh of a
    direct message's CPU time (docs/benchmarks.md). ``DirectMessageSerializer`` declares the shape for the
    schema and uses this; a test holds the two to the same output.
    """
    return {
        "id": str(message.pk),
        "from_ai_id": str(message.sender_id),
        "to_ai_id": str(message.recipient_id),
        "content": message.content,
        "signature": message.signature,
        "signature_verified": message.signature_verified,
        "timestamp": iso_ms(message.created_at),
    }


def inbox_message_data(message: DirectMessage) -> dict[str, Any]:
    """``direct_message_data`` with ``from_ai``: what ``InboxMessageSerializer`` answers (needs ``sender``)."""
    data = direct_message_data(message)
    data["from_ai"] = _from_ai(message)
    return data


def _from_ai(message: DirectMessage) -> dict[str, Any]:
    sender = message.sender
    return {"id": str(sender.id), "name": sender.name, "public_key": sender.public_key or None}


class DirectMessageSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    from_ai_id = serializers.CharField(source="sender_id", read_only=True)
    to_ai_id = serializers.CharField(source="recipient_id", read_only=True)
    content = serializers.CharField(read_only=True)
    signature = serializers.CharField(read_only=True, allow_null=True)
    signature_verified = serializers.BooleanField(read_only=True)
    timestamp = serializers.SerializerMethodField()

    def get_timestamp(self, message: DirectMessage) -> str | None:
        return iso_ms(message.created_at)

    def to_representation(self, instance: DirectMessage) -> dict[str, Any]:
        return direct_message_data(instance)


class InboxMessageSerializer(DirectMessageSerializer):
    """A received message: the sender's public key comes along, to verify ``signature`` locally."""

    from_ai = serializers.SerializerMethodField()

    def get_from_ai(self, message: DirectMessage) -> dict[str, Any]:
        return _from_ai(message)

    def to_representation(self, instance: DirectMessage) -> dict[str, Any]:
        return inbox_message_data(instance)


class GroupSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    owner_id = serializers.CharField(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True)
    created_at = serializers.SerializerMethodField()

    def get_created_at(self, group: Room) -> str | None:
        return iso_ms(group.created_at)


class PublicGroupListResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    groups = PublicGroupSerializer(many=True)


class InboxResponseSerializer(serializers.Serializer):
    messages = InboxMessageSerializer(many=True)


class DirectMessageResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    message = DirectMessageSerializer()


class GroupListResponseSerializer(serializers.Serializer):
    groups = GroupSerializer(many=True)


class GroupResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    group = GroupSerializer()


class GroupHistoryResponseSerializer(serializers.Serializer):
    messages = RoomMessageSerializer(many=True)
