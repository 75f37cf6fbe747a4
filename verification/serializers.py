"""Shapes of the verification endpoints (contract §6)."""

import re
from typing import Any

from chatr.fields import InputSerializer, StrictCharField

MOLTBOOK_NAME_RE = re.compile(r"[A-Za-z0-9_-]{2,64}")


class MoltbookNameField(StrictCharField):
    default_error_messages = {"moltbook_name": "Use 2–64 characters: letters A–Z, digits, '_' or '-'."}

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        if not MOLTBOOK_NAME_RE.fullmatch(name):
            self.fail("moltbook_name")
        return name


class VerifyInputSerializer(InputSerializer):
    moltbookName = MoltbookNameField(max_length=128, trim_whitespace=False)
