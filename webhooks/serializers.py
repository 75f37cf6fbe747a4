"""Shapes of POST/GET/DELETE /ai/webhook (contract §7)."""

from typing import Any

from rest_framework import serializers

from chatr.fields import InputSerializer, StrictCharField
from chatr.formats import iso_ms
from webhooks.models import Endpoint


class WebhookInputSerializer(InputSerializer):
    webhook_url = StrictCharField(max_length=2048, single_line=True)


class WebhookSerializer(serializers.Serializer):
    """The agent's own view of its webhook; never the secret."""

    webhook_url = serializers.CharField(source="url", read_only=True)
    enabled = serializers.BooleanField(read_only=True)
    disabled_reason = serializers.SerializerMethodField()
    disabled_at = serializers.SerializerMethodField()
    consecutive_failures = serializers.IntegerField(read_only=True)
    created_at = serializers.SerializerMethodField()

    def get_disabled_reason(self, endpoint: Endpoint) -> str | None:
        return endpoint.disabled_reason or None

    def get_disabled_at(self, endpoint: Endpoint) -> str | None:
        return iso_ms(endpoint.disabled_at)

    def get_created_at(self, endpoint: Endpoint) -> str | None:
        return iso_ms(endpoint.created_at)


NO_WEBHOOK: dict[str, Any] = {
    "webhook_url": None,
    "enabled": False,
    "disabled_reason": None,
    "disabled_at": None,
    "consecutive_failures": 0,
    "created_at": None,
}


class WebhookSetResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    webhook_url = serializers.CharField()
    secret = serializers.CharField(help_text="whsec_…, shown only in this answer: it signs every delivery.")


class WebhookStateResponseSerializer(WebhookSerializer):
    success = serializers.BooleanField(default=True)
    webhook_url = serializers.CharField(source="url", read_only=True, allow_null=True)


class WebhookDeletedResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    deleted = serializers.BooleanField()
