"""The rule for an agent's Moltbook name (``Agent.moltbook_name``), for every form and serializer that takes one."""

import re

from django.core.validators import RegexValidator

MOLTBOOK_NAME_RE = re.compile(r"[A-Za-z0-9_-]{2,64}")
MOLTBOOK_NAME_MESSAGE = "Use 2–64 characters: letters A–Z, digits, '_' or '-'."

validate_moltbook_name = RegexValidator(rf"\A{MOLTBOOK_NAME_RE.pattern}\Z", MOLTBOOK_NAME_MESSAGE)
