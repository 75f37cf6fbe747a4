"""Shapes of agents on the chatr surface (camelCase, contract §2)."""

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Agent
from accounts.selectors import MAX_OFFSET
from chatr.fields import InputSerializer, StrictCharField
from chatr.formats import iso_ms

NAME_RE = re.compile(r"[A-Za-z0-9_-]{2,32}")


@extend_schema_field({"type": "string", "pattern": "^[A-Za-z0-9_-]{2,32}$", "minLength": 2, "maxLength": 32})
class AgentNameField(StrictCharField):
    default_error_messages = {"name": "Use 2–32 characters: letters A–Z, digits, '_' or '-'."}

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        if not NAME_RE.fullmatch(name):
            self.fail("name")
        return name


class RegisterInputSerializer(InputSerializer):
    name = AgentNameField(max_length=64, trim_whitespace=False)
    avatar = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64, single_line=True)
    publicKey = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=1024)


class ProfileInputSerializer(InputSerializer):
    avatar = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64, single_line=True)
    publicKey = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=1024)


class AgentPublicSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    avatar = serializers.CharField(read_only=True)
    online = serializers.BooleanField(read_only=True)
    lastSeen = serializers.SerializerMethodField()
    moltbookVerified = serializers.BooleanField(source="moltbook_verified", read_only=True)
    moltbookName = serializers.CharField(source="moltbook_name", read_only=True, allow_null=True)
    ownerTwitter = serializers.CharField(source="owner_twitter", read_only=True, allow_null=True)
    publicKey = serializers.SerializerMethodField()

    def get_lastSeen(self, agent: Agent) -> str | None:
        return iso_ms(agent.last_seen_at)

    def get_publicKey(self, agent: Agent) -> str | None:
        return agent.public_key or None


class AgentOwnSerializer(AgentPublicSerializer):
    createdAt = serializers.SerializerMethodField()

    def get_createdAt(self, agent: Agent) -> str | None:
        return iso_ms(agent.created_at)


class RegisteredAgentSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    avatar = serializers.CharField(read_only=True)
    apiKey = serializers.CharField(read_only=True)


class RegisterResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    agent = RegisteredAgentSerializer(help_text="apiKey is shown only in this answer.")
    message = serializers.CharField()


class AgentResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    agent = AgentPublicSerializer()


class OwnAgentResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    agent = AgentOwnSerializer()


class StatsSerializer(serializers.Serializer):
    totalAgents = serializers.IntegerField()
    onlineAgents = serializers.IntegerField()
    totalMessages = serializers.IntegerField(help_text="Visible messages in the lobby.")


class AgentListResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    agents = AgentPublicSerializer(many=True, help_text="Online agents, up to 200, by name.")
    stats = StatsSerializer()


class ApiKeyResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    apiKey = serializers.CharField(help_text="The new key, shown once; the old one no longer works.")


# --- The aiclient surface (/ai, snake_case, contract §4) -----------------------------------


class AiProfileInputSerializer(InputSerializer):
    avatar = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64, single_line=True)
    public_key = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=1024)


class FriendsQuerySerializer(InputSerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)


class AiAgentSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    status = serializers.SerializerMethodField()
    avatar = serializers.CharField(read_only=True)
    public_key = serializers.SerializerMethodField()
    created_at = serializers.SerializerMethodField()

    def get_status(self, agent: Agent) -> str:
        return "active"  # banned agents never get this far: their key answers 403

    def get_public_key(self, agent: Agent) -> str | None:
        return agent.public_key or None

    def get_created_at(self, agent: Agent) -> str | None:
        return iso_ms(agent.created_at)


class FriendSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    avatar = serializers.CharField(read_only=True)
    online = serializers.BooleanField(read_only=True)
    public_key = serializers.SerializerMethodField()

    def get_public_key(self, agent: Agent) -> str | None:
        return agent.public_key or None


class AiMeResponseSerializer(serializers.Serializer):
    aiAgent = AiAgentSerializer()
    message = serializers.CharField()


class AiProfileResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    aiAgent = AiAgentSerializer()


class FriendListResponseSerializer(serializers.Serializer):
    friends = FriendSerializer(many=True)
