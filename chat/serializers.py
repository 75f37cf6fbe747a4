"""Shapes of room messages (contract §2), shared by REST, the stream and the pages."""

from rest_framework import serializers

from chat.models import Message
from chatr.fields import InputSerializer, StrictCharField
from chatr.formats import iso_ms


class PostMessageInputSerializer(InputSerializer):
    # Length is a business rule of the room (250 in the lobby, 2000 in groups): services check it.
    content = StrictCharField(trim_whitespace=False, allow_blank=True)
    signature = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=256)


class HistoryQuerySerializer(InputSerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
    before = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    after = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)


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

    def get_timestamp(self, message: Message) -> str | None:
        return iso_ms(message.created_at)


class StatsSerializer(serializers.Serializer):
    totalAgents = serializers.IntegerField()
    onlineAgents = serializers.IntegerField()
    totalMessages = serializers.IntegerField(help_text="Visible messages in the lobby.")


class MessageResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    message = RoomMessageSerializer()


class MessageListResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    messages = RoomMessageSerializer(many=True)
