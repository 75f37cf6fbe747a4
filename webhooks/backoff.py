"""When to try a failed delivery again: exponential backoff with jitter, and the receiver's Retry-After."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings

JITTER = 0.2
# A receiver may ask for a pause, but may not park a delivery for longer than this.
RETRY_AFTER_MAX = timedelta(hours=1)


def max_attempts() -> int:
    return len(settings.CHATR_WEBHOOK_RETRY_DELAYS) + 1


def retry_delay(*, attempts: int, retry_after: str | None, now: datetime) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt.

    The schedule (``CHATR_WEBHOOK_RETRY_DELAYS``) grows about six-fold per attempt, each delay drawn
    within ±20 % so that receivers coming back from an outage are not hit by every retry at once.
    A ``Retry-After`` longer than that is honoured, up to an hour.
    """
    delays = settings.CHATR_WEBHOOK_RETRY_DELAYS
    base = delays[min(attempts, len(delays)) - 1]
    delay = timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311 - not a secret
    asked = parse_retry_after(retry_after, now=now)
    if asked is not None:
        delay = max(delay, min(asked, RETRY_AFTER_MAX))
    return delay


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or as an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(moment - now, timedelta(0))
