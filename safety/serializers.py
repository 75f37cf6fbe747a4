"""Shapes of the trust-and-safety answers (contract §13)."""

from __future__ import annotations

from rest_framework import serializers

from chatr.formats import iso_ms
from safety.models import HeldMessage, Report, Rule
from safety.rules import SlowMode


class HeldSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    room = serializers.CharField(source="room_id", allow_null=True, help_text="null for a direct message")
    createdAt = serializers.SerializerMethodField()

    class Meta:
        model = HeldMessage
        fields = ("id", "room", "content", "rule", "createdAt")

    def get_createdAt(self, held: HeldMessage) -> str:
        return iso_ms(held.created_at)


class HeldListResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    held = HeldSerializer(many=True)


class PublicRuleSerializer(serializers.ModelSerializer):
    scope = serializers.ListField(child=serializers.CharField())
    appliesTo = serializers.CharField(source="applies_to")

    class Meta:
        model = Rule
        fields = ("name", "reason", "scope", "appliesTo")


class SlowModeSerializer(serializers.Serializer):
    seconds = serializers.IntegerField()
    until = serializers.CharField(allow_null=True)


class RulesResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    rules = PublicRuleSerializer(many=True)
    slowMode = serializers.DictField(child=SlowModeSerializer())


class RoomSafetyResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    room = serializers.CharField()
    slowModeSeconds = serializers.IntegerField()
    until = serializers.CharField(allow_null=True)


def slow_mode_data(mode: SlowMode | None) -> dict:
    if mode is None:
        return {"seconds": 0, "until": None}
    return {"seconds": mode.seconds, "until": iso_ms(mode.until) if mode.until else None}


class ReportInputSerializer(serializers.Serializer):
    """Documentation only: the service checks the body, after the message (contract §13's order)."""

    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    note = serializers.CharField(required=False, max_length=200)


class ReportSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    messageId = serializers.CharField(source="reported_id", help_text="The reported message's id, room or direct.")
    createdAt = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ("id", "messageId", "reason", "createdAt")

    def get_createdAt(self, report: Report) -> str:
        return iso_ms(report.created_at)


class ReportResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    report = ReportSerializer()


def house_rules_data() -> dict:
    """``GET /api/rules`` without ``success``: the enabled rules and the rooms whose slow mode is on."""
    from safety import selectors

    slow = {room: slow_mode_data(mode) for room, mode in selectors.slow_modes_in_force().items()}
    return {"rules": PublicRuleSerializer(selectors.public_rules(), many=True).data, "slowMode": slow}
