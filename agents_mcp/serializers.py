"""Inputs of MCP tools that REST takes from a path (a group id, an agent id or name), checked as REST text is."""

from chatr.fields import InputSerializer, StrictCharField


class ReferenceInputSerializer(InputSerializer):
    """An id or name to look up: one line, no control characters (PostgreSQL refuses a NUL outright)."""

    ref = StrictCharField(single_line=True, max_length=64)
