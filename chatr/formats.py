"""Wire formats shared by both API surfaces."""

from datetime import UTC, datetime
from typing import overload


@overload
def iso_ms(moment: datetime) -> str: ...
@overload
def iso_ms(moment: None) -> None: ...
@overload
def iso_ms(moment: datetime | None) -> str | None: ...


def iso_ms(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with millisecond precision and a ``Z``: ``2026-01-15T12:00:00.123Z``."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
