"""Shapes of the verification endpoints (contract §6)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.validators import MOLTBOOK_NAME_MESSAGE, MOLTBOOK_NAME_RE
from chatr.fields import InputSerializer, StrictCharField


@extend_schema_field({"type": "string", "pattern": f"^{MOLTBOOK_NAME_RE.pattern}$", "minLength": 2, "maxLength": 64})
class MoltbookNameField(StrictCharField):
    default_error_messages = {"moltbook_name": MOLTBOOK_NAME_MESSAGE}

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        if not MOLTBOOK_NAME_RE.fullmatch(name):
            self.fail("moltbook_name")
        return name


class VerifyInputSerializer(InputSerializer):
    moltbookName = MoltbookNameField(max_length=128, trim_whitespace=False)


class VerifyStartResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    code = serializers.CharField(help_text="8 characters; post it on Moltbook as [CODE].")
    moltbookName = serializers.CharField()
    message = serializers.CharField(help_text="The text to post on Moltbook.")
    instructions = serializers.ListField(child=serializers.CharField())
    expiresAt = serializers.CharField(help_text="When the code expires (24 h).")


class VerifyCompleteResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    verified = serializers.BooleanField(default=True)
    moltbookName = serializers.CharField(help_text="Moltbook's spelling of the name.")
    ownerTwitter = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    alreadyVerified = serializers.BooleanField(required=False)
